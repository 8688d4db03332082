#include "router/route.h"

#include "filters/http/factory.h"
#include "router/route_config.h"

namespace remora::router {
namespace {

std::chrono::milliseconds toMillis(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(d.seconds() * 1000 + d.nanos() / 1000000);
}

using Known = std::set<std::string, std::less<>>;

Status checkCluster(const Known* known, const std::string& cluster, const std::string& path) {
  if (known == nullptr || known->count(cluster) != 0) return Status();
  return Status::error(path + ": unknown cluster '" + cluster + "'");
}

// The mutation levels from least to most specific; Envoy applies the most specific first (so the
// route configuration's value wins) unless most_specific_header_mutations_wins reverses it.
template <class Getter>
void applyLevels(const Route& route, bool most_specific_wins, Getter get, http::HeaderMap& headers,
                 const stream_info::StreamInfo& info) {
  const VirtualHost& vhost = route.virtualHost();
  const RouteConfig& config = vhost.routeConfig();
  const HeaderMutations* levels[3] = {&get(route), &get(vhost), &get(config)};
  if (most_specific_wins) std::swap(levels[0], levels[2]);
  for (const HeaderMutations* level : levels) level->apply(headers, info);
}

}  // namespace

StatusOr<FilterConfigMap> toFilterConfigMap(
    const google::protobuf::Map<std::string, google::protobuf::Any>& proto, const std::string& path,
    stats::Store* stats) {
  FilterConfigMap out;
  for (const auto& [name, any] : proto) {
    auto parsed = filters::http::createRouteSpecificFilterConfig(name, any, stats);
    std::string field = (path.empty() ? "" : path + ".") + "typed_per_filter_config[" + name + "]";
    if (!parsed.ok()) return parsed.status().withPrefix(field);
    out.emplace(std::move(parsed->first), std::move(parsed->second));
  }
  return out;
}

std::optional<bool> RouteEntry::upgradeEnabled(std::string_view upgrade_type) const {
  const std::string type = toLower(upgrade_type);
  for (const auto& [name, enabled] : upgrades_) {
    if (name == type) return enabled;
  }
  return std::nullopt;
}

std::string RouteEntry::clusterName(const http::HeaderMap& request, uint64_t random) const {
  if (weighted_) return weighted_->pick(random);
  if (!cluster_header_.empty()) {
    const std::string* value = request.get(cluster_header_);
    return value ? *value : std::string();
  }
  return cluster_;
}

void RouteEntry::finalizeRequestHeaders(http::HeaderMap& headers,
                                        const stream_info::StreamInfo& info,
                                        bool insert_envoy_original_path) const {
  route_->applyRequestHeaderMutations(headers, info);
  if (!host_rewrite_literal_.empty()) headers.set(http::headers::kAuthority, host_rewrite_literal_);
  if (!has_prefix_rewrite_ && !regex_rewrite_) return;
  std::string original(headers.path());
  std::string rewritten = has_prefix_rewrite_
                              ? route_->matcher().rewritePrefix(original, prefix_rewrite_)
                              : regex_rewrite_->apply(original);
  if (insert_envoy_original_path) headers.set(http::headers::kEnvoyOriginalPath, original);
  headers.set(http::headers::kPath, rewritten);
}

void RouteEntry::finalizeResponseHeaders(http::HeaderMap& headers,
                                         const stream_info::StreamInfo& info) const {
  route_->finalizeResponseHeaders(headers, info);
}

const std::string& Route::virtualHostName() const { return vhost_->name(); }

void Route::applyRequestHeaderMutations(http::HeaderMap& headers,
                                        const stream_info::StreamInfo& info) const {
  applyLevels(
      *this, vhost_->routeConfig().mostSpecificHeaderMutationsWins(),
      [](const auto& level) -> const HeaderMutations& { return level.requestMutations(); }, headers,
      info);
}

void Route::finalizeResponseHeaders(http::HeaderMap& headers,
                                    const stream_info::StreamInfo& info) const {
  applyLevels(
      *this, vhost_->routeConfig().mostSpecificHeaderMutationsWins(),
      [](const auto& level) -> const HeaderMutations& { return level.responseMutations(); },
      headers, info);
}

std::string Route::redirectLocation(const http::HeaderMap& request) const {
  return redirect_ ? redirect_->location(request, matcher_) : std::string();
}

const RouteSpecificFilterConfig* Route::perFilterConfig(std::string_view filter_name) const {
  return perFilterConfigLevels(filter_name)[0];
}

Route::PerFilterConfigLevels Route::perFilterConfigLevels(std::string_view filter_name) const {
  PerFilterConfigLevels out{};
  size_t n = 0;
  for (const FilterConfigMap* map : {&per_filter_config_, &vhost_->perFilterConfig(),
                                     &vhost_->routeConfig().perFilterConfig()}) {
    auto it = map->find(filter_name);
    if (it != map->end()) out[n++] = it->second.get();
  }
  return out;
}

StatusOr<std::unique_ptr<Route>> Route::create(const envoy::config::route::v3::Route& proto,
                                               const VirtualHost& vhost, const std::string& path,
                                               const Known* known_clusters, stats::Store* stats) {
  using Proto = envoy::config::route::v3::Route;
  std::unique_ptr<Route> route(new Route());
  route->vhost_ = &vhost;
  route->name_ = proto.name();
  auto matcher = RouteMatcher::create(proto.match(), path + ".match");
  if (!matcher.ok()) return matcher.status();
  route->matcher_ = std::move(matcher.value());
  switch (proto.action_case()) {
    case Proto::kRoute:
      RETURN_IF_ERROR(route->buildAction(proto.route(), path + ".route", known_clusters));
      break;
    case Proto::kRedirect: {
      auto redirect = RedirectAction::create(proto.redirect(), path + ".redirect");
      if (!redirect.ok()) return redirect.status();
      route->redirect_ = std::move(redirect.value());
      break;
    }
    case Proto::kDirectResponse: {
      auto direct = createDirectResponse(proto.direct_response(), path + ".direct_response");
      if (!direct.ok()) return direct.status();
      route->direct_ = std::move(direct.value());
      break;
    }
    default:
      return Status::error(path + ": an action (route, redirect or direct_response) is required");
  }
  auto request = HeaderMutations::create(
      proto.request_headers_to_add(), proto.request_headers_to_remove(),
      path + ".request_headers_to_add", path + ".request_headers_to_remove");
  if (!request.ok()) return request.status();
  route->request_mutations_ = std::move(request.value());
  auto response = HeaderMutations::create(
      proto.response_headers_to_add(), proto.response_headers_to_remove(),
      path + ".response_headers_to_add", path + ".response_headers_to_remove");
  if (!response.ok()) return response.status();
  route->response_mutations_ = std::move(response.value());
  auto per_filter = toFilterConfigMap(proto.typed_per_filter_config(), path, stats);
  if (!per_filter.ok()) return per_filter.status();
  route->per_filter_config_ = std::move(per_filter.value());
  return route;
}

Status Route::buildAction(const envoy::config::route::v3::RouteAction& proto,
                          const std::string& path, const Known* known_clusters) {
  using Proto = envoy::config::route::v3::RouteAction;
  RouteEntry entry;
  entry.route_ = this;
  switch (proto.cluster_specifier_case()) {
    case Proto::kCluster:
      RETURN_IF_ERROR(checkCluster(known_clusters, proto.cluster(), path + ".cluster"));
      entry.cluster_ = proto.cluster();
      break;
    case Proto::kClusterHeader:
      // Envoy looks the named header up in the request: lower-case it like HeaderMap keys.
      entry.cluster_header_ = toLower(proto.cluster_header());
      break;
    case Proto::kWeightedClusters: {
      const std::string wc_path = path + ".weighted_clusters";
      auto weighted = WeightedClusters::create(proto.weighted_clusters(), wc_path);
      if (!weighted.ok()) return weighted.status();
      for (size_t i = 0; i < weighted->clusters().size(); ++i) {
        RETURN_IF_ERROR(checkCluster(known_clusters, weighted->clusters()[i].name,
                                     wc_path + ".clusters[" + std::to_string(i) + "].name"));
      }
      entry.weighted_ = std::move(weighted.value());
      break;
    }
    default:
      return Status::error(path +
                           ": a cluster specifier (cluster, cluster_header or "
                           "weighted_clusters) is required");
  }
  if (!proto.prefix_rewrite().empty()) {
    entry.has_prefix_rewrite_ = true;
    entry.prefix_rewrite_ = proto.prefix_rewrite();
  }
  if (proto.has_regex_rewrite()) {
    if (entry.has_prefix_rewrite_) {
      return Status::error(path + ": only one of prefix_rewrite and regex_rewrite may be set");
    }
    auto rewrite = RegexRewrite::create(proto.regex_rewrite(), path + ".regex_rewrite");
    if (!rewrite.ok()) return rewrite.status();
    entry.regex_rewrite_ = std::move(rewrite.value());
  }
  entry.host_rewrite_literal_ = proto.host_rewrite_literal();
  entry.auto_host_rewrite_ = proto.has_auto_host_rewrite() && proto.auto_host_rewrite().value();
  if (proto.has_timeout()) entry.timeout_ = toMillis(proto.timeout());
  if (proto.has_idle_timeout()) entry.idle_timeout_ = toMillis(proto.idle_timeout());
  entry.high_priority_ = proto.priority() == envoy::config::core::v3::HIGH;
  // Deprecated in the v3 API in favour of max_stream_duration, but still honoured by Envoy and
  // used by Istio-era configs; the issue asks for them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  if (proto.has_max_grpc_timeout()) entry.max_grpc_timeout_ = toMillis(proto.max_grpc_timeout());
  if (proto.has_grpc_timeout_offset()) {
    entry.grpc_timeout_offset_ = toMillis(proto.grpc_timeout_offset());
  }
#pragma GCC diagnostic pop
  if (proto.has_retry_policy()) {
    auto retry = RetryPolicy::create(proto.retry_policy(), path + ".retry_policy");
    if (!retry.ok()) return retry.status();
    entry.retry_ = std::move(retry.value());
  }
  for (int i = 0; i < proto.request_mirror_policies_size(); ++i) {
    const auto& mirror = proto.request_mirror_policies(i);
    const std::string m_path = path + ".request_mirror_policies[" + std::to_string(i) + "]";
    // Envoy: exactly one of cluster and cluster_header.
    if (mirror.cluster().empty() == mirror.cluster_header().empty()) {
      return Status::error(m_path + ": exactly one of cluster and cluster_header is required");
    }
    MirrorPolicy policy;
    if (!mirror.cluster().empty()) {
      RETURN_IF_ERROR(checkCluster(known_clusters, mirror.cluster(), m_path + ".cluster"));
      policy.cluster = mirror.cluster();
    } else {
      policy.cluster_header = toLower(mirror.cluster_header());
    }
    policy.append_host_suffix = !mirror.disable_shadow_host_suffix_append();
    if (mirror.has_runtime_fraction()) {
      policy.fraction = FractionalPercent::create(mirror.runtime_fraction());
    }
    entry.mirrors_.push_back(std::move(policy));
  }
  if (proto.hash_policy_size() > 0) {
    auto hash_policy = HashPolicy::create(proto.hash_policy(), path + ".hash_policy");
    if (!hash_policy.ok()) return hash_policy.status();
    entry.hash_policy_ = std::move(hash_policy.value());
  }
  for (int i = 0; i < proto.upgrade_configs_size(); ++i) {
    const auto& upgrade = proto.upgrade_configs(i);
    const std::string u_path = path + ".upgrade_configs[" + std::to_string(i) + "]";
    // Any upgrade token may be named (Envoy's arbitrary upgrades); "CONNECT" is the CONNECT
    // method, and connect_config (only there) terminates it here.
    std::string type = toLower(upgrade.upgrade_type());
    if (upgrade.has_connect_config()) {
      if (type != "connect") {
        return Status::error(u_path + ".connect_config: only for upgrade_type CONNECT");
      }
      entry.connect_terminate_ = true;
    }
    for (const auto& [seen, enabled] : entry.upgrades_) {
      if (seen == type)
        return Status::error(u_path + ": duplicate upgrade " + upgrade.upgrade_type());
    }
    entry.upgrades_.emplace_back(std::move(type),
                                 !upgrade.has_enabled() || upgrade.enabled().value());
  }
  entry_ = std::move(entry);
  return Status();
}

}  // namespace remora::router
