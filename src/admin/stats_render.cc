#include "admin/stats_render.h"

#include "common/json_string.h"

#include <re2/re2.h>

#include <map>
#include <vector>

#include "admin/stat_tags.h"

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

struct PromSample {
  std::string labels;  // without braces
  int64_t value;
};
using Families = std::map<std::string, std::vector<PromSample>>;

void addSample(Families& families, const std::string& stat_name, int64_t value) {
  TaggedName tagged = extractTags(stat_name);
  std::string family = "envoy_" + sanitizePrometheusName(tagged.name);
  PromSample sample{{}, value};
  for (const auto& [tag, tag_value] : tagged.tags) {
    if (!sample.labels.empty()) sample.labels.push_back(',');
    sample.labels += sanitizePrometheusName(tag);
    sample.labels += "=\"";
    appendLabelValue(sample.labels, tag_value);
    sample.labels.push_back('"');
  }
  families[family].push_back(std::move(sample));
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
  return out;
}

}  // namespace remora::admin
