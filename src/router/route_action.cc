#include "router/route_action.h"

#include "config/extension_registry.h"
#include "config/reflection_util.h"
#include "envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.pb.h"

namespace remora::router {
namespace {

std::chrono::milliseconds toMillis(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(d.seconds() * 1000 + d.nanos() / 1000000);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

constexpr std::string_view kPreviousHosts = "envoy.retry_host_predicates.previous_hosts";

// The one retry host predicate remora implements (in the router's host choice), registered so the
// config loader resolves it by name or by its typed_config type like any other extension.
const config::RegisterExtension kPreviousHostsRegistration{
    config::ExtensionCategory::RetryHostPredicate, std::string(kPreviousHosts),
    envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate::descriptor()
        ->full_name(),
    nullptr};

}  // namespace

StatusOr<RetryPolicy> RetryPolicy::create(const envoy::config::route::v3::RetryPolicy& proto,
                                          const std::string& path) {
  RetryPolicy p;
  std::string_view on = proto.retry_on();
  while (!on.empty()) {
    size_t comma = on.find(',');
    std::string_view token = trim(on.substr(0, comma));
    if (!token.empty()) p.retry_on.emplace_back(token);
    on = comma == std::string_view::npos ? std::string_view() : on.substr(comma + 1);
  }
  if (proto.has_num_retries()) p.num_retries = proto.num_retries().value();
  if (proto.has_per_try_timeout()) p.per_try_timeout = toMillis(proto.per_try_timeout());
  if (proto.has_retry_back_off()) {
    const auto& back_off = proto.retry_back_off();
    p.base_interval = toMillis(back_off.base_interval());
    p.max_interval =
        back_off.has_max_interval() ? toMillis(back_off.max_interval()) : p.base_interval * 10;
    if (p.max_interval < p.base_interval) {
      // Envoy's message for the same mistake.
      return Status::error(path +
                           ".retry_back_off.max_interval: max_interval must be greater "
                           "than or equal to the base_interval");
    }
  }
  p.retriable_status_codes.assign(proto.retriable_status_codes().begin(),
                                  proto.retriable_status_codes().end());
  for (int i = 0; i < proto.retry_host_predicate_size(); ++i) {
    // As Envoy: the typed_config's type decides when given, else the name (the bootstrap loader
    // has already filled typed_config in for a known name; an RDS resource may still lack it).
    const auto& predicate = proto.retry_host_predicate(i);
    const std::string item = path + ".retry_host_predicate[" + std::to_string(i) + "]";
    if (predicate.has_typed_config()) {
      std::string_view type = config::typeNameFromUrl(predicate.typed_config().type_url());
      if (type !=
          envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate::descriptor()
              ->full_name()) {
        return Status::error("not supported by remora: " + item +
                             ".typed_config: " + predicate.typed_config().type_url());
      }
    } else if (predicate.name() != kPreviousHosts) {
      return Status::error("not supported by remora: " + item + ".name: " + predicate.name());
    }
    p.retry_host_predicates.push_back(std::string(kPreviousHosts));
  }
  if (proto.host_selection_retry_max_attempts() != 0) {
    p.host_selection_retry_max_attempts = proto.host_selection_retry_max_attempts();
  }
  return p;
}

std::string MirrorPolicy::clusterFor(const http::HeaderMap& request) const {
  if (cluster_header.empty()) return cluster;
  const std::string* value = request.get(cluster_header);
  return value != nullptr ? *value : std::string();
}

StatusOr<RegexRewrite> RegexRewrite::create(
    const envoy::type::matcher::v3::RegexMatchAndSubstitute& proto, const std::string& path) {
  RegexRewrite r;
  auto regex = compileRegex(proto.pattern(), path + ".pattern");
  if (!regex.ok()) return regex.status();
  r.pattern_ = std::move(regex.value());
  std::string error;
  if (!r.pattern_->CheckRewriteString(proto.substitution(), &error)) {
    return Status::error(path + ".substitution: invalid substitution: " + error);
  }
  r.substitution_ = proto.substitution();
  return r;
}

std::string RegexRewrite::apply(std::string_view full_path) const {
  SplitPath split = splitPath(full_path);
  std::string path = replaceAll(split.path);
  path.append(full_path.substr(split.path.size()));
  return path;
}

std::string RegexRewrite::replaceAll(std::string_view value) const {
  std::string out(value);
  re2::RE2::GlobalReplace(&out, *pattern_, substitution_);
  return out;
}

StatusOr<RedirectAction> RedirectAction::create(
    const envoy::config::route::v3::RedirectAction& proto, const std::string& path) {
  using Proto = envoy::config::route::v3::RedirectAction;
  RedirectAction r;
  if (proto.https_redirect()) {
    r.scheme_ = "https";
  } else if (!proto.scheme_redirect().empty()) {
    r.scheme_ = toLower(proto.scheme_redirect());
  }
  r.host_ = proto.host_redirect();
  if (proto.port_redirect() != 0) r.port_ = ":" + std::to_string(proto.port_redirect());
  switch (proto.path_rewrite_specifier_case()) {
    case Proto::kPathRedirect:
      r.path_kind_ = PathKind::Path;
      r.path_ = proto.path_redirect();
      break;
    case Proto::kPrefixRewrite:
      r.path_kind_ = PathKind::Prefix;
      r.path_ = proto.prefix_rewrite();
      break;
    case Proto::kRegexRewrite: {
      auto rewrite = RegexRewrite::create(proto.regex_rewrite(), path + ".regex_rewrite");
      if (!rewrite.ok()) return rewrite.status();
      r.path_kind_ = PathKind::Regex;
      r.regex_ = std::move(rewrite.value());
      break;
    }
    default:
      break;
  }
  switch (proto.response_code()) {
    case Proto::FOUND:
      r.response_code_ = 302;
      break;
    case Proto::SEE_OTHER:
      r.response_code_ = 303;
      break;
    case Proto::TEMPORARY_REDIRECT:
      r.response_code_ = 307;
      break;
    case Proto::PERMANENT_REDIRECT:
      r.response_code_ = 308;
      break;
    default:
      r.response_code_ = 301;
      break;
  }
  r.strip_query_ = proto.strip_query();
  return r;
}

std::string RedirectAction::location(const http::HeaderMap& request,
                                     const RouteMatcher& matcher) const {
  // The request's scheme as the client saw it: x-forwarded-proto (set by the connection manager)
  // before :scheme, as Envoy does.
  std::string request_scheme;
  if (const std::string* xfp = request.get(http::headers::kForwardedProto)) {
    request_scheme = toLower(*xfp);
  } else {
    request_scheme = request.scheme().empty() ? "http" : toLower(request.scheme());
  }
  const std::string& scheme = scheme_.empty() ? request_scheme : scheme_;

  std::string host;
  if (!host_.empty()) {
    host = host_;
  } else {
    std::string_view request_host = request.host();
    size_t colon = std::string_view::npos;
    if (!request_host.empty() && request_host[0] == '[') {
      colon = request_host.rfind("]:");
      if (colon != std::string_view::npos) ++colon;
    } else {
      colon = request_host.rfind(':');
    }
    bool drop_port = false;
    if (colon != std::string_view::npos) {
      // A new port replaces the old; a scheme change drops the old scheme's default port, so
      // http://a:80 → https://a rather than https://a:80.
      std::string_view port = request_host.substr(colon);
      drop_port = !port_.empty() ||
                  (scheme != request_scheme && ((request_scheme == "https" && port == ":443") ||
                                                (request_scheme == "http" && port == ":80")));
    }
    host = drop_port ? request_host.substr(0, colon) : request_host;
  }
  host += port_;

  std::string_view full_path = request.path();
  std::string path;
  switch (path_kind_) {
    case PathKind::Keep:
      path = full_path;
      break;
    case PathKind::Path: {
      // A query in path_redirect replaces the request's; otherwise the request's query is kept.
      if (path_.find('?') != std::string::npos) {
        return scheme + "://" + host + path_;
      }
      SplitPath split = splitPath(full_path);
      path = path_;
      if (!split.query.empty()) path += "?" + std::string(split.query);
      break;
    }
    case PathKind::Prefix:
      path = matcher.rewritePrefix(full_path, path_);
      break;
    case PathKind::Regex:
      path = regex_->apply(full_path);
      break;
  }
  if (strip_query_) path = std::string(splitPath(path).path);
  return scheme + "://" + host + path;
}

StatusOr<DirectResponse> createDirectResponse(
    const envoy::config::route::v3::DirectResponseAction& proto, const std::string& path) {
  DirectResponse d;
  d.status = proto.status();
  if (proto.has_body()) {
    const auto& body = proto.body();
    switch (body.specifier_case()) {
      case envoy::config::core::v3::DataSource::kInlineString:
        d.body = body.inline_string();
        break;
      case envoy::config::core::v3::DataSource::kInlineBytes:
        d.body = body.inline_bytes();
        break;
      default:
        return Status::error("not supported by remora: " + path + ".body");
    }
  }
  return d;
}

StatusOr<WeightedClusters> WeightedClusters::create(
    const envoy::config::route::v3::WeightedCluster& proto, const std::string& path) {
  WeightedClusters w;
  for (int i = 0; i < proto.clusters_size(); ++i) {
    const auto& c = proto.clusters(i);
    if (c.name().empty()) {
      return Status::error(path + ".clusters[" + std::to_string(i) + "].name: required");
    }
    uint32_t weight = c.has_weight() ? c.weight().value() : 0;
    w.clusters_.push_back({c.name(), weight});
    w.total_ += weight;
  }
  // total_weight is deprecated but still honoured by Envoy: when set, the weights must add up
  // to it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const bool has_total = proto.has_total_weight();
  const uint32_t total = proto.total_weight().value();
#pragma GCC diagnostic pop
  if (has_total && total != w.total_) {
    return Status::error(path + ": sum of weights in the weighted_cluster should add up to " +
                         std::to_string(total));
  }
  if (w.total_ == 0) {
    return Status::error(path + ": sum of weights in the weighted_cluster must be greater than 0");
  }
  return w;
}

const std::string& WeightedClusters::pick(uint64_t random) const {
  const uint64_t selected = random % total_;
  uint64_t end = 0;
  for (const Cluster& c : clusters_) {
    end += c.weight;
    if (selected < end) return c.name;
  }
  return clusters_.back().name;  // unreachable: selected < total_
}

}  // namespace remora::router
