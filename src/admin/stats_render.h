#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "stats/store.h"

namespace re2 {
class RE2;
}

namespace remora::admin {

// Which stats /stats and /stats/prometheus show: ?filter=REGEX (RE2, partial match on the stat
// name, as Envoy) and ?usedonly (counters above zero, gauges that were ever set).
class StatsFilter {
 public:
  StatsFilter();
  ~StatsFilter();
  StatsFilter(StatsFilter&&) noexcept;
  StatsFilter& operator=(StatsFilter&&) noexcept;

  // Fails with Envoy's message when the regex does not compile.
  static StatusOr<StatsFilter> create(std::string_view regex, bool used_only);
  // True when there is no regex or it matches part of `name`.
  bool matchesName(std::string_view name) const;
  // With ?usedonly, only counters above zero pass.
  bool counterPasses(const stats::Counter& counter, uint64_t value) const;
  // With ?usedonly, only gauges that were ever set or changed pass.
  bool gaugePasses(const stats::Gauge& gauge) const;
  // With ?usedonly, only histograms with a recorded value pass.
  bool histogramPasses(const stats::Histogram& histogram) const;

 private:
  std::unique_ptr<re2::RE2> regex_;
  bool used_only_ = false;
};

// Envoy's text format: "name: value" lines, counters and gauges interleaved in name order, then
// histograms in name order as "name: P0(interval,cumulative) P25(...) ... P100(...)" ("nan" for
// a view without samples), or "name: No recorded values".
std::string renderStatsText(const stats::Store& store, const StatsFilter& filter);

// Envoy's ?format=json: {"stats":[{"name":"a","value":1},...]} in name order; when any histogram
// passes the filter, one last entry {"histograms":{"supported_quantiles":[0,25,...,100],
// "computed_quantiles":[{"name":"h","values":[{"cumulative":1,"interval":null},...]}]}}.
std::string renderStatsJson(const stats::Store& store, const StatsFilter& filter);

// Envoy's /stats/prometheus (text exposition 0.0.4): tag-extracted names with the envoy_ prefix,
// sanitized to [a-zA-Z0-9_], one "# TYPE" line per family, counters' families then gauges' then
// histograms', each in name order. A histogram is its cumulative _bucket{le="..."} counts at
// Envoy's default bounds and +Inf, then _sum and _count.
std::string renderStatsPrometheus(const stats::Store& store, const StatsFilter& filter);

// Replaces every character outside [a-zA-Z0-9_] by '_' (Prometheus metric and label names).
std::string sanitizePrometheusName(std::string_view name);

}  // namespace remora::admin
