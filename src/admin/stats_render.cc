#include "admin/stats_render.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include <cmath>
#include <map>
#include <vector>

#include "admin/stat_tags.h"
#include "common/json_string.h"

namespace remora::admin {

namespace {

// One stat as the renderers see it: counters and gauges merged into one name-ordered list.
struct StatValue {
  const std::string* name;
  bool counter;
  int64_t value;  // counters fit: a counter past 2^63 would take centuries
};

std::vector<StatValue> collect(const stats::Store& store, const StatsFilter& filter,
                               bool counters_only = false) {
  std::vector<StatValue> counters;
  std::vector<StatValue> gauges;
  store.forEachCounter([&](const stats::Counter& c) {
    if (!filter.matchesName(c.name())) return;
    const uint64_t v = c.value();
    if (filter.counterPasses(c, v)) counters.push_back({&c.name(), true, static_cast<int64_t>(v)});
  });
  store.forEachGauge([&](const stats::Gauge& g) {
    if (!filter.matchesName(g.name())) return;
    if (filter.gaugePasses(g)) gauges.push_back({&g.name(), false, g.value()});
  });
  // Both lists are in name order already; a merge keeps it without a sort.
  std::vector<StatValue> all;
  all.reserve(counters.size() + gauges.size());
  size_t i = 0, j = 0;
  while (i < counters.size() || j < gauges.size()) {
    if (j == gauges.size() || (i < counters.size() && *counters[i].name <= *gauges[j].name)) {
      all.push_back(counters[i++]);
    } else {
      all.push_back(gauges[j++]);
    }
  }
  return all;
}

void appendLabelValue(std::string& out, std::string_view s) {
  // Prometheus exposition escapes exactly these three in label values.
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
}

// A stat's Prometheus family (envoy_ + the tag-extracted name) and its labels (without braces).
struct PromName {
  std::string family;
  std::string labels;
};

PromName promName(const std::string& stat_name) {
  TaggedName tagged = extractTags(stat_name);
  PromName out{"envoy_" + sanitizePrometheusName(tagged.name), {}};
  for (const auto& [tag, tag_value] : tagged.tags) {
    if (!out.labels.empty()) out.labels.push_back(',');
    out.labels += sanitizePrometheusName(tag);
    out.labels += "=\"";
    appendLabelValue(out.labels, tag_value);
    out.labels.push_back('"');
  }
  return out;
}

struct PromSample {
  std::string labels;
  int64_t value;
};
using Families = std::map<std::string, std::vector<PromSample>>;

void addSample(Families& families, const std::string& stat_name, int64_t value) {
  PromName name = promName(stat_name);
  families[name.family].push_back({std::move(name.labels), value});
}

void renderFamilies(std::string& out, const Families& families, std::string_view type) {
  for (const auto& [family, samples] : families) {
    out += "# TYPE ";
    out += family;
    out += ' ';
    out += type;
    out += '\n';
    for (const auto& s : samples) {
      out += family;
      out += '{';
      out += s.labels;
      out += "} ";
      out += std::to_string(s.value);
      out += '\n';
    }
  }
}

std::vector<const stats::Histogram*> collectHistograms(const stats::Store& store,
                                                       const StatsFilter& filter) {
  std::vector<const stats::Histogram*> out;
  store.forEachHistogram([&](const stats::Histogram& h) {
    if (filter.matchesName(h.name()) && filter.histogramPasses(h)) out.push_back(&h);
  });
  return out;
}

using Quantiles = decltype(stats::HistogramStatistics::quantiles);

Quantiles cumulativeQuantiles(const stats::Histogram& h) {
  return stats::Histogram::statisticsOf(h.cumulativeData()).quantiles;
}

// Envoy's quantileSummary(): P<100q>(interval,cumulative) with fmt's shortest form ("nan" too).
void appendQuantileSummary(std::string& out, const stats::Histogram& h) {
  const Quantiles& interval = h.intervalStatistics().quantiles;
  const Quantiles cumulative = cumulativeQuantiles(h);
  for (size_t i = 0; i < stats::kSupportedQuantiles.size(); ++i) {
    if (i > 0) out.push_back(' ');
    fmt::format_to(std::back_inserter(out), "P{:g}({},{})", 100 * stats::kSupportedQuantiles[i],
                   interval[i], cumulative[i]);
  }
}

// Envoy's JSON numbers for quantiles: printf's %g, null for NaN.
void appendJsonQuantile(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "null";
  } else {
    fmt::format_to(std::back_inserter(out), "{:g}", value);
  }
}

void appendHistogramsJson(std::string& out,
                          const std::vector<const stats::Histogram*>& histograms) {
  out += "{\"histograms\":{\"supported_quantiles\":[";
  for (size_t i = 0; i < stats::kSupportedQuantiles.size(); ++i) {
    if (i > 0) out.push_back(',');
    fmt::format_to(std::back_inserter(out), "{:g}", 100 * stats::kSupportedQuantiles[i]);
  }
  out += "],\"computed_quantiles\":[";
  for (size_t h = 0; h < histograms.size(); ++h) {
    if (h > 0) out.push_back(',');
    out += "{\"name\":";
    appendJsonString(out, histograms[h]->name());
    out += ",\"values\":[";
    const Quantiles& interval = histograms[h]->intervalStatistics().quantiles;
    const Quantiles cumulative = cumulativeQuantiles(*histograms[h]);
    for (size_t i = 0; i < interval.size(); ++i) {
      if (i > 0) out.push_back(',');
      out += "{\"cumulative\":";
      appendJsonQuantile(out, cumulative[i]);
      out += ",\"interval\":";
      appendJsonQuantile(out, interval[i]);
      out.push_back('}');
    }
    out += "]}";
  }
  out += "]}}";
}

// One Prometheus histogram: cumulative bucket counts at Envoy's default bounds (printed as Envoy
// does, "%.32g"), +Inf, _sum and _count.
void appendPrometheusHistogram(std::string& out, const std::string& family,
                               const std::string& labels, const stats::Histogram& h) {
  const stats::HistogramData data = h.cumulativeData();
  const std::string bucket_labels = labels.empty() ? labels : labels + ",";
  for (double bound : stats::kDefaultBucketBounds) {
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{}le=\"{:.32g}\"}} {}\n", family,
                   bucket_labels, bound, data.countAtMost(bound));
  }
  fmt::format_to(std::back_inserter(out), "{}_bucket{{{}le=\"+Inf\"}} {}\n", family, bucket_labels,
                 data.sample_count);
  fmt::format_to(std::back_inserter(out), "{}_sum{{{}}} {}\n", family, labels, data.sample_sum);
  fmt::format_to(std::back_inserter(out), "{}_count{{{}}} {}\n", family, labels, data.sample_count);
}

void renderHistogramFamilies(std::string& out,
                             const std::vector<const stats::Histogram*>& histograms) {
  std::map<std::string, std::vector<std::pair<std::string, const stats::Histogram*>>> families;
  for (const stats::Histogram* h : histograms) {
    PromName name = promName(h->name());
    families[name.family].emplace_back(std::move(name.labels), h);
  }
  for (const auto& [family, members] : families) {
    out += "# TYPE ";
    out += family;
    out += " histogram\n";
    for (const auto& [labels, h] : members) appendPrometheusHistogram(out, family, labels, *h);
  }
}

}  // namespace

StatsFilter::StatsFilter() = default;
StatsFilter::~StatsFilter() = default;
StatsFilter::StatsFilter(StatsFilter&&) noexcept = default;
StatsFilter& StatsFilter::operator=(StatsFilter&&) noexcept = default;

StatusOr<StatsFilter> StatsFilter::create(std::string_view regex, bool used_only) {
  StatsFilter filter;
  filter.used_only_ = used_only;
  if (!regex.empty()) {
    RE2::Options options;
    options.set_log_errors(false);
    filter.regex_ =
        std::make_unique<re2::RE2>(re2::StringPiece(regex.data(), regex.size()), options);
    if (!filter.regex_->ok()) {
      return Status::error("Invalid re2 regex");
    }
  }
  return filter;
}

bool StatsFilter::matchesName(std::string_view name) const {
  return regex_ == nullptr ||
         re2::RE2::PartialMatch(re2::StringPiece(name.data(), name.size()), *regex_);
}

bool StatsFilter::counterPasses(const stats::Counter&, uint64_t value) const {
  return !used_only_ || value > 0;
}

bool StatsFilter::gaugePasses(const stats::Gauge& gauge) const {
  return !used_only_ || gauge.used();
}

bool StatsFilter::histogramPasses(const stats::Histogram& histogram) const {
  return !used_only_ || histogram.used();
}

std::string sanitizePrometheusName(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) c = '_';
  }
  return out;
}

std::string renderStatsText(const stats::Store& store, const StatsFilter& filter) {
  std::string out;
  for (const StatValue& s : collect(store, filter)) {
    out += *s.name;
    out += ": ";
    out += s.counter ? std::to_string(static_cast<uint64_t>(s.value)) : std::to_string(s.value);
    out += '\n';
  }
  for (const stats::Histogram* h : collectHistograms(store, filter)) {
    out += h->name();
    out += ": ";
    if (h->used()) {
      appendQuantileSummary(out, *h);
    } else {
      out += "No recorded values";
    }
    out += '\n';
  }
  return out;
}

std::string renderStatsJson(const stats::Store& store, const StatsFilter& filter) {
  std::string out = "{\"stats\":[";
  bool first = true;
  for (const StatValue& s : collect(store, filter)) {
    if (!first) out.push_back(',');
    first = false;
    out += "{\"name\":";
    appendJsonString(out, *s.name);
    out += ",\"value\":";
    out += s.counter ? std::to_string(static_cast<uint64_t>(s.value)) : std::to_string(s.value);
    out.push_back('}');
  }
  const auto histograms = collectHistograms(store, filter);
  if (!histograms.empty()) {
    if (!first) out.push_back(',');
    appendHistogramsJson(out, histograms);
  }
  out += "]}";
  return out;
}

std::string renderStatsPrometheus(const stats::Store& store, const StatsFilter& filter) {
  Families counters;
  Families gauges;
  for (const StatValue& s : collect(store, filter)) {
    addSample(s.counter ? counters : gauges, *s.name, s.value);
  }
  std::string out;
  renderFamilies(out, counters, "counter");
  renderFamilies(out, gauges, "gauge");
  renderHistogramFamilies(out, collectHistograms(store, filter));
  return out;
}

}  // namespace remora::admin
