#include "admin/stat_tags.h"

#include <array>

namespace remora::admin {

namespace {

// The stat suffixes of each scope, in one place. A pattern is matched segment by segment ('.'
// separated); within a segment '*' matches any run of characters other than '.'. Keep these in
// step with the stats the cluster manager, listeners and filters create.
constexpr std::string_view kClusterStatSuffixes[] = {"upstream_cx_*",
                                                     "upstream_rq_*",
                                                     "upstream_flow_control_*",
                                                     "upstream_internal_redirect_*",
                                                     "membership_*",
                                                     "update_*",
                                                     "lb_*",
                                                     "retry_or_shadow_abandoned",
                                                     "version",
                                                     "max_host_weight",
                                                     "bind_errors",
                                                     "assignment_stale",
                                                     "assignment_timeout_received",
                                                     "original_dst_host_invalid",
                                                     "upstream_http3_broken",
                                                     "circuit_breakers.*.*",
                                                     "outlier_detection.*",
                                                     "health_check.*",
                                                     "ssl.*",
                                                     "ssl.*.*",
                                                     "retry.upstream_rq_*",
                                                     "internal.upstream_rq_*",
                                                     "external.upstream_rq_*",
                                                     "canary.upstream_rq_*",
                                                     "zone.*.*.upstream_rq_*",
                                                     "client_ssl_socket_factory.*",
                                                     "default.total_match_count",
                                                     "warming_state",
                                                     "init_fetch_timeout"};

constexpr std::string_view kListenerStatSuffixes[] = {"downstream_cx_*",
                                                      "downstream_pre_cx_*",
                                                      "downstream_listener_filter_*",
                                                      "downstream_global_cx_overflow",
                                                      "no_filter_chain_match",
                                                      "no_certificate",
                                                      "extension_config_missing",
                                                      "network_extension_config_missing",
                                                      "server_ssl_socket_factory.*",
                                                      "ssl.*",
                                                      "ssl.*.*",
                                                      "http.*.downstream_rq_*",
                                                      "worker_*.downstream_cx_*"};

constexpr std::string_view kTcpStatSuffixes[] = {"downstream_cx_*",
                                                 "downstream_flow_control_*",
                                                 "idle_timeout",
                                                 "max_downstream_connection_duration",
                                                 "upstream_flush_*",
                                                 "on_demand_cluster_*",
                                                 "early_data_received_count_total"};

constexpr std::string_view kHttpStatSuffixes[] = {"downstream_cx_*",
                                                  "downstream_rq_*",
                                                  "downstream_flow_control_*",
                                                  "rs_too_large",
                                                  "no_route",
                                                  "no_cluster",
                                                  "rq_*",
                                                  "rq_direct_response",
                                                  "rq_redirect",
                                                  "rq_reset_after_downstream_response_started",
                                                  "rq_total",
                                                  "tracing.*",
                                                  "user_agent.*.*",
                                                  "rds.*.*",
                                                  "router.*",
                                                  "fault.*",
                                                  "cors.*",
                                                  "buffer.*",
                                                  "health_check.*",
                                                  "ext_authz.*",
                                                  "ratelimit.*",
                                                  "rbac.*",
                                                  "jwt_authn.*",
                                                  "local_rate_limit.*",
                                                  "compressor.*.*.*",
                                                  "decompressor.*.*.*",
                                                  "grpc_stats.*",
                                                  "downstream_rq_time",
                                                  "passthrough_internal_redirect_*"};

bool globSegment(std::string_view pattern, std::string_view text) {
  // Only one '*' per segment is needed by the tables above.
  size_t star = pattern.find('*');
  if (star == std::string_view::npos) return pattern == text;
  std::string_view prefix = pattern.substr(0, star);
  std::string_view suffix = pattern.substr(star + 1);
  return text.size() >= prefix.size() + suffix.size() && text.substr(0, prefix.size()) == prefix &&
         text.substr(text.size() - suffix.size()) == suffix;
}

bool globMatch(std::string_view pattern, std::string_view text) {
  while (true) {
    size_t p = pattern.find('.');
    size_t t = text.find('.');
    if ((p == std::string_view::npos) != (t == std::string_view::npos)) return false;
    if (!globSegment(pattern.substr(0, p), text.substr(0, t))) return false;
    if (p == std::string_view::npos) return true;
    pattern.remove_prefix(p + 1);
    text.remove_prefix(t + 1);
  }
}

struct Scope {
  std::string_view prefix;    // "cluster"
  std::string_view tag_name;  // "envoy_cluster_name"
  const std::string_view* suffixes;
  size_t suffix_count;
  // Envoy's listener regex only takes addresses (digits, '_', '.', hex and brackets for IPv6), so
  // "listener.admin.x" keeps "admin" in the name; value_ok mirrors that per scope.
  bool (*value_ok)(std::string_view);
};

bool anyValue(std::string_view) { return true; }
bool addressValue(std::string_view v) {
  for (char c : v) {
    bool ok = (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '[' || c == ']' ||
              (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!ok) return false;
  }
  return true;
}

template <size_t N>
constexpr size_t count(const std::string_view (&)[N]) {
  return N;
}

const std::array<Scope, 4> kScopes = {{
    {"cluster", "envoy_cluster_name", kClusterStatSuffixes, count(kClusterStatSuffixes), anyValue},
    {"listener", "envoy_listener_address", kListenerStatSuffixes, count(kListenerStatSuffixes),
     addressValue},
    {"tcp", "envoy_tcp_prefix", kTcpStatSuffixes, count(kTcpStatSuffixes), anyValue},
    {"http", "envoy_http_conn_manager_prefix", kHttpStatSuffixes, count(kHttpStatSuffixes),
     anyValue},
}};

const Scope* findScope(std::string_view name) {
  for (const auto& scope : kScopes) {
    if (name == scope.prefix) return &scope;
  }
  return nullptr;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// *_rq_2xx → *_rq_xx {envoy_response_code_class="2"}; *_rq_200 → *_rq {envoy_response_code="200"}.
void extractResponseCode(TaggedName& out) {
  std::string& n = out.name;
  if (n.size() < 8) return;
  std::string_view tail = std::string_view(n).substr(n.size() - 7);  // "_rq_2xx" or "_rq_200"
  if (tail.substr(0, 4) != "_rq_") return;
  if (isDigit(tail[4]) && tail[5] == 'x' && tail[6] == 'x') {
    out.tags.insert(out.tags.begin(), {"envoy_response_code_class", std::string(1, tail[4])});
    n.erase(n.size() - 3, 1);  // drop the digit, keep "_xx"
  } else if (isDigit(tail[4]) && isDigit(tail[5]) && isDigit(tail[6])) {
    out.tags.insert(out.tags.begin(), {"envoy_response_code", std::string(tail.substr(4))});
    n.resize(n.size() - 4);
  }
}

}  // namespace

bool isKnownStatSuffix(std::string_view scope_name, std::string_view rest) {
  const Scope* scope = findScope(scope_name);
  if (scope == nullptr) return false;
  for (size_t i = 0; i < scope->suffix_count; ++i) {
    if (globMatch(scope->suffixes[i], rest)) return true;
  }
  return false;
}

TaggedName extractTags(std::string_view stat_name) {
  TaggedName out;
  const size_t first_dot = stat_name.find('.');
  const Scope* scope =
      first_dot == std::string_view::npos ? nullptr : findScope(stat_name.substr(0, first_dot));
  bool extracted = false;
  if (scope != nullptr) {
    // The leftmost boundary whose remainder is a known suffix gives the longest known suffix.
    for (size_t dot = stat_name.find('.', first_dot + 1); dot != std::string_view::npos;
         dot = stat_name.find('.', dot + 1)) {
      std::string_view value = stat_name.substr(first_dot + 1, dot - first_dot - 1);
      std::string_view rest = stat_name.substr(dot + 1);
      if (value.empty() || !scope->value_ok(value) || !isKnownStatSuffix(scope->prefix, rest)) {
        continue;
      }
      out.name = std::string(scope->prefix) + "." + std::string(rest);
      out.tags.emplace_back(scope->tag_name, value);
      extracted = true;
      break;
    }
  }
  if (!extracted) out.name = std::string(stat_name);
  extractResponseCode(out);
  return out;
}

}  // namespace remora::admin
