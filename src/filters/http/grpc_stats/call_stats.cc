#include "filters/http/grpc_stats/call_stats.h"

#include "http/grpc.h"

namespace remora::filters::http::grpc_stats {

std::optional<std::pair<std::string_view, std::string_view>> serviceAndMethod(
    std::string_view path) {
  std::string_view parts[2];
  size_t n = 0;
  size_t start = 0;
  while (start < path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) {
      if (n == 2) return std::nullopt;
      parts[n++] = path.substr(start, slash - start);
    }
    start = slash + 1;
  }
  if (n != 2) return std::nullopt;
  return std::make_pair(parts[0], parts[1]);
}

void chargeCallStatus(stats::Store& store, const std::string& prefix,
                      const remora::http::HeaderMap& headers_or_trailers) {
  const std::string* status = headers_or_trailers.get(remora::http::grpc_headers::kStatus);
  if (status == nullptr) return;
  if (auto code = remora::http::grpcStatusOf(headers_or_trailers);
      code && *code != remora::http::grpc_status::kInvalidCode) {
    store.counter(prefix + std::to_string(*code)).inc();
  }
  store.counter(prefix + (*status == "0" ? "success" : "failure")).inc();
  store.counter(prefix + "total").inc();
}

}  // namespace remora::filters::http::grpc_stats
