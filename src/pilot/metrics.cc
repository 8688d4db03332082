#include "pilot/metrics.h"

#include <fmt/format.h>

#include "pilot/generator.h"

namespace remora::pilot {

std::string shortType(const std::string& type_url) {
  if (type_url == kClusterType) return "cds";
  if (type_url == kEndpointType) return "eds";
  if (type_url == kListenerType) return "lds";
  if (type_url == kRouteType) return "rds";
  return type_url;
}

void PilotMetrics::observeConvergence(double seconds) {
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++convergence_buckets[i];
  ++convergence_count;
  convergence_sum += seconds;
}

std::string PilotMetrics::render(size_t connections) const {
  std::string out;
  out += "# TYPE pilot_xds gauge\n";
  out += fmt::format("pilot_xds{{version=\"remora\"}} {}\n", connections);
  out += "# TYPE pilot_xds_pushes counter\n";
  for (const auto& [type, n] : pushes)
    out += fmt::format("pilot_xds_pushes{{type=\"{}\"}} {}\n", type, n);
  out += "# TYPE pilot_total_xds_rejects counter\n";
  for (const auto& [type, n] : rejects)
    out += fmt::format("pilot_total_xds_rejects{{type=\"{}\"}} {}\n", type, n);
  out += "# TYPE pilot_xds_expired_nonce counter\n";
  out += fmt::format("pilot_xds_expired_nonce {}\n", expired_nonce);
  out += "# TYPE pilot_push_triggers counter\n";
  out += fmt::format("pilot_push_triggers{{type=\"full\"}} {}\n", full_pushes);
  out += fmt::format("pilot_push_triggers{{type=\"endpoint\"}} {}\n", eds_only_pushes);
  out += "# TYPE pilot_proxy_convergence_time histogram\n";
  for (size_t i = 0; i < kBuckets.size(); ++i)
    out += fmt::format("pilot_proxy_convergence_time_bucket{{le=\"{}\"}} {}\n", kBuckets[i],
                       convergence_buckets[i]);
  out += fmt::format("pilot_proxy_convergence_time_bucket{{le=\"+Inf\"}} {}\n", convergence_count);
  out += fmt::format("pilot_proxy_convergence_time_sum {}\n", convergence_sum);
  out += fmt::format("pilot_proxy_convergence_time_count {}\n", convergence_count);
  return out;
}

}  // namespace remora::pilot
