#pragma once

#include <string>

#include "common/status.h"

namespace remora::remoractl {

// `istioctl proxy-config` views of a sidecar's admin output. Each takes the JSON the admin API
// returned (/config_dump, or /clusters?format=json for endpoints) and returns either a table
// (one line per filter chain, route, cluster or endpoint) or, with `json`, the section of the
// config dump the view is built from, as the admin gave it.
enum class ProxyConfigView { Listeners, Routes, Clusters, Endpoints, Bootstrap };

StatusOr<ProxyConfigView> parseProxyConfigView(const std::string& name);
StatusOr<std::string> renderProxyConfig(ProxyConfigView view, const std::string& admin_json,
                                        bool json);

// The admin path a view reads.
const char* proxyConfigAdminPath(ProxyConfigView view);

}  // namespace remora::remoractl
