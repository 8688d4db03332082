#include "pilot/vs_merge.h"

namespace remora::pilot {
namespace {

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Istio's stringMatchConflict: the delegate's match must select a subset of the root's.
bool conflicts(const std::optional<StringMatch>& root, const std::optional<StringMatch>& leaf) {
  if (!root || !leaf) return false;
  using Kind = StringMatch::Kind;
  if (root->kind == Kind::kRegex || leaf->kind == Kind::kRegex) return true;
  if (root->kind == Kind::kExact) return leaf->kind != Kind::kExact || leaf->value != root->value;
  return !startsWith(leaf->value, root->value);  // root prefix: leaf prefix or exact under it
}

bool conflicts(const std::map<std::string, StringMatch>& root,
               const std::map<std::string, StringMatch>& leaf) {
  for (const auto& [name, m] : leaf) {
    auto it = root.find(name);
    if (it != root.end() && conflicts(it->second, m)) return true;
  }
  return false;
}

bool conflicts(const HttpMatch& root, const HttpMatch& leaf) {
  if (conflicts(root.uri, leaf.uri) || conflicts(root.method, leaf.method) ||
      conflicts(root.authority, leaf.authority))
    return true;
  if (conflicts(root.headers, leaf.headers) ||
      conflicts(root.without_headers, leaf.without_headers) ||
      conflicts(root.query_params, leaf.query_params))
    return true;
  if (root.ignore_uri_case != leaf.ignore_uri_case) return true;
  if (root.port && leaf.port && *root.port != *leaf.port) return true;
  for (const auto& [k, v] : leaf.source_labels) {
    auto it = root.source_labels.find(k);
    if (it != root.source_labels.end() && it->second != v) return true;
  }
  return false;
}

// The delegate's match, with what it leaves unset taken from the root's.
HttpMatch merge(const HttpMatch& root, HttpMatch leaf) {
  if (!leaf.uri) leaf.uri = root.uri;
  if (!leaf.method) leaf.method = root.method;
  if (!leaf.authority) leaf.authority = root.authority;
  leaf.headers.insert(root.headers.begin(), root.headers.end());
  leaf.without_headers.insert(root.without_headers.begin(), root.without_headers.end());
  leaf.query_params.insert(root.query_params.begin(), root.query_params.end());
  if (!leaf.port) leaf.port = root.port;
  leaf.source_labels.insert(root.source_labels.begin(), root.source_labels.end());
  return leaf;
}

// Istio's mergeHTTPRoute: the delegate route keeps its own actions; those it leaves unset come
// from the root route, and its name is prefixed with the root's.
HttpRoute mergeRoute(const HttpRoute& root, HttpRoute leaf, std::vector<HttpMatch> match) {
  leaf.match = std::move(match);
  if (leaf.name.empty())
    leaf.name = root.name;
  else if (!root.name.empty())
    leaf.name = root.name + "-" + leaf.name;
  if (!leaf.rewrite_uri && !leaf.rewrite_authority) {
    leaf.rewrite_uri = root.rewrite_uri;
    leaf.rewrite_authority = root.rewrite_authority;
  }
  if (!leaf.timeout_ms) leaf.timeout_ms = root.timeout_ms;
  if (!leaf.retries) leaf.retries = root.retries;
  if (!leaf.fault) leaf.fault = root.fault;
  if (!leaf.mirror) {
    leaf.mirror = root.mirror;
    leaf.mirror_percent = root.mirror_percent;
  }
  if (!leaf.cors) leaf.cors = root.cors;
  auto empty = [](const HeaderOps& h) {
    return h.set.empty() && h.add.empty() && h.remove.empty();
  };
  if (empty(leaf.request_headers) && empty(leaf.response_headers)) {
    leaf.request_headers = root.request_headers;
    leaf.response_headers = root.response_headers;
  }
  return leaf;
}

// A delegate is usable from the root's namespace when exported there.
bool exportedTo(const VirtualService& delegate, const std::string& ns) {
  if (delegate.export_to.empty()) return true;
  for (const auto& to : delegate.export_to)
    if (to == "*" || to == ns || (to == "." && delegate.ns == ns)) return true;
  return false;
}

}  // namespace

std::optional<std::vector<HttpMatch>> mergeMatches(const std::vector<HttpMatch>& root,
                                                   const std::vector<HttpMatch>& delegate) {
  if (root.empty()) return delegate;
  if (delegate.empty()) return root;
  std::vector<HttpMatch> out;
  for (const auto& leaf : delegate) {
    bool found = false;
    for (const auto& r : root) {
      if (conflicts(r, leaf)) continue;
      out.push_back(merge(r, leaf));
      found = true;
    }
    if (!found) return std::nullopt;
  }
  return out;
}

std::vector<BoundHttpRoute> mergedHttpRoutes(const Model& model, const SidecarScope& scope,
                                             const std::string& fqdn) {
  std::vector<BoundHttpRoute> out;
  for (const VirtualService* vs : scope.virtualServices(model, fqdn)) {
    for (const auto& http : vs->http) {
      if (!http.delegate) {
        out.push_back({http, vs});
        continue;
      }
      const std::string ns = http.delegate->ns.empty() ? vs->ns : http.delegate->ns;
      const VirtualService* delegate = model.findVirtualService(ns, http.delegate->name);
      // A missing, non-delegate or unexported delegate contributes no routes, as in Istio.
      if (delegate == nullptr || !delegate->hosts.empty() || !exportedTo(*delegate, vs->ns))
        continue;
      for (const auto& leaf : delegate->http) {
        auto match = mergeMatches(http.match, leaf.match);
        if (match) out.push_back({mergeRoute(http, leaf, std::move(*match)), delegate});
      }
    }
  }
  return out;
}

std::vector<BoundL4Route> mergedL4Routes(const Model& model, const SidecarScope& scope,
                                         const std::string& fqdn, bool tls) {
  std::vector<BoundL4Route> out;
  for (const VirtualService* vs : scope.virtualServices(model, fqdn))
    for (const auto& route : tls ? vs->tls : vs->tcp) out.push_back({&route, vs});
  return out;
}

}  // namespace remora::pilot
