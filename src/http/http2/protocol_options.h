#pragma once

#include "envoy/config/core/v3/protocol.pb.h"
#include "http/http2/options.h"

namespace remora::http::http2 {

// Applies an Http2ProtocolOptions message (the HCM's http2_protocol_options, a cluster's
// explicit_http_config / use_downstream_protocol_config) over `options`, which holds the
// defaults and the limits set elsewhere. The one translation both sides share; the message has
// passed its PGV rules.
void applyProtocolOptions(const envoy::config::core::v3::Http2ProtocolOptions& proto,
                          Http2Options& options);

}  // namespace remora::http::http2
