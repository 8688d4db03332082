#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace remora::admin {

// A stat name split into Envoy's tag-extracted name and its tags, e.g.
// "cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_2xx" →
// name "cluster.upstream_rq_xx", tags {envoy_response_code_class="2",
// envoy_cluster_name="outbound|9080||reviews.default.svc.cluster.local"}.
struct TaggedName {
  std::string name;
  std::vector<std::pair<std::string, std::string>> tags;  // (tag name, value), in output order
};

// Applies Envoy's default tag extraction for the scopes Remora emits: cluster.<name>.,
// listener.<address>., tcp.<stat_prefix>., http.<prefix>. and the response code (class) of
// *_rq_<code> stats. Because cluster names and prefixes may contain dots, the scope value is found
// by matching the *end* of the name against the known stat suffixes of that scope
// (kClusterStatSuffixes etc. in stat_tags.cc), taking the longest trailing known suffix.
TaggedName extractTags(std::string_view stat_name);

// Whether `rest` (the part after "<scope>.<value>.") is a stat that scope is known to emit.
bool isKnownStatSuffix(std::string_view scope, std::string_view rest);

}  // namespace remora::admin
