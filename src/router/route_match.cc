#include "router/route_match.h"

#include <algorithm>

#include "http/grpc.h"

namespace remora::router {

SplitPath splitPath(std::string_view full_path) {
  SplitPath out;
  size_t end = full_path.find_first_of("?#");
  out.path = full_path.substr(0, end);
  if (end != std::string_view::npos && full_path[end] == '?') {
    std::string_view rest = full_path.substr(end + 1);
    out.query = rest.substr(0, rest.find('#'));
  }
  return out;
}

FractionalPercent FractionalPercent::create(
    const envoy::config::core::v3::RuntimeFractionalPercent& proto) {
  return create(proto.default_value());
}

FractionalPercent FractionalPercent::create(const envoy::type::v3::FractionalPercent& proto) {
  FractionalPercent f;
  f.numerator_ = proto.numerator();
  switch (proto.denominator()) {
    case envoy::type::v3::FractionalPercent::TEN_THOUSAND:
      f.denominator_ = 10000;
      break;
    case envoy::type::v3::FractionalPercent::MILLION:
      f.denominator_ = 1000000;
      break;
    default:
      f.denominator_ = 100;
      break;
  }
  return f;
}

StatusOr<RouteMatcher> RouteMatcher::create(const envoy::config::route::v3::RouteMatch& proto,
                                            const std::string& path) {
  using Proto = envoy::config::route::v3::RouteMatch;
  RouteMatcher m;
  m.case_sensitive_ = !proto.has_case_sensitive() || proto.case_sensitive().value();
  switch (proto.path_specifier_case()) {
    case Proto::kPrefix:
      m.kind_ = PathKind::Prefix;
      m.value_ = proto.prefix();
      break;
    case Proto::kPath:
      m.kind_ = PathKind::Path;
      m.value_ = proto.path();
      break;
    case Proto::kSafeRegex: {
      auto regex = compileRegex(proto.safe_regex(), path + ".safe_regex");
      if (!regex.ok()) return regex.status();
      m.kind_ = PathKind::Regex;
      m.regex_ = std::move(regex.value());
      break;
    }
    case Proto::kPathSeparatedPrefix:
      m.kind_ = PathKind::SeparatedPrefix;
      m.value_ = proto.path_separated_prefix();
      break;
    case Proto::kConnectMatcher:
      m.kind_ = PathKind::Connect;
      break;
    default:
      return Status::error(path +
                           ": a path specifier (prefix, path, safe_regex, "
                           "path_separated_prefix or connect_matcher) is required");
  }
  if (!m.case_sensitive_) m.value_ = toLower(m.value_);
  for (int i = 0; i < proto.headers_size(); ++i) {
    auto hm = HeaderMatcher::create(proto.headers(i), path + ".headers[" + std::to_string(i) + "]");
    if (!hm.ok()) return hm.status();
    m.headers_.push_back(std::move(hm.value()));
  }
  for (int i = 0; i < proto.query_parameters_size(); ++i) {
    auto qm = QueryParameterMatcher::create(proto.query_parameters(i),
                                            path + ".query_parameters[" + std::to_string(i) + "]");
    if (!qm.ok()) return qm.status();
    m.query_parameters_.push_back(std::move(qm.value()));
  }
  if (proto.has_runtime_fraction()) {
    m.runtime_fraction_ = FractionalPercent::create(proto.runtime_fraction());
  }
  m.grpc_ = proto.has_grpc();
  return m;
}

bool RouteMatcher::matchPath(std::string_view path) const {
  switch (kind_) {
    case PathKind::Prefix:
      return case_sensitive_ ? path.substr(0, value_.size()) == value_
                             : startsWithIgnoreCase(path, value_);
    case PathKind::Path:
      return case_sensitive_ ? path == value_ : equalsIgnoreCase(path, value_);
    case PathKind::Regex:
      // Envoy: case_sensitive does not apply to regexes; the pattern must match the whole path.
      return re2::RE2::FullMatch(path, *regex_);
    case PathKind::SeparatedPrefix: {
      bool prefix = case_sensitive_ ? path.substr(0, value_.size()) == value_
                                    : startsWithIgnoreCase(path, value_);
      return prefix && (path.size() == value_.size() || path[value_.size()] == '/');
    }
    case PathKind::Connect:
      return false;  // decided in match()
  }
  return false;
}

bool RouteMatcher::match(const http::HeaderMap& headers, const SplitPath& split,
                         uint64_t random) const {
  if (kind_ == PathKind::Connect) {
    // A classic CONNECT only: an RFC 8441 extended CONNECT reached here as its upgrade (GET).
    if (headers.method() != "CONNECT") return false;
  } else if (!matchPath(split.path)) {
    return false;
  }
  for (const HeaderMatcher& h : headers_) {
    if (!h.match(headers)) return false;
  }
  for (const QueryParameterMatcher& q : query_parameters_) {
    if (!q.match(split.query)) return false;
  }
  if (runtime_fraction_ && !runtime_fraction_->enabled(random)) return false;
  if (grpc_ && !http::isGrpcRequest(headers)) return false;
  return true;
}

std::string RouteMatcher::rewritePrefix(std::string_view full_path,
                                        std::string_view replacement) const {
  size_t matched = 0;
  if (kind_ == PathKind::Prefix || kind_ == PathKind::SeparatedPrefix) {
    matched = std::min(value_.size(), full_path.size());
  } else {
    matched = splitPath(full_path).path.size();
  }
  std::string out(replacement);
  out.append(full_path.substr(matched));
  return out;
}

}  // namespace remora::router
