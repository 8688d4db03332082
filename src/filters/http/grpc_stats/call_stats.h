#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "http/header_map.h"
#include "stats/store.h"

namespace remora::filters::http::grpc_stats {

// Envoy's Grpc::Context naming and charging of per-call stats, shared by grpc_stats
// ("cluster.<c>.grpc.") and grpc_web ("cluster.<c>.grpc-web.").

// Envoy's Grpc::Common::resolveServiceAndMethod: "/<service>/<method>", empty segments ignored.
std::optional<std::pair<std::string_view, std::string_view>> serviceAndMethod(
    std::string_view path);

// When `headers_or_trailers` carries grpc-status: `<prefix><code>` (well-known codes only, so an
// upstream cannot make stats without bound), `<prefix>success` or `<prefix>failure`, and
// `<prefix>total`.
void chargeCallStatus(stats::Store& store, const std::string& prefix,
                      const remora::http::HeaderMap& headers_or_trailers);

}  // namespace remora::filters::http::grpc_stats
