#pragma once

#include <string_view>

#include "buffer/buffer.h"
#include "filters/network/http_connection_manager/config.h"

namespace remora::filters::network::http_connection_manager {

enum class SelectedCodec { Http1, Http2, NeedMoreData };

// Which server codec a downstream connection gets (Envoy's codec_type). HTTP1 and HTTP2 are
// fixed. AUTO follows the transport socket's negotiated ALPN when there is one ("h2" is HTTP/2,
// anything else HTTP/1.1, as Envoy); without ALPN (a raw socket, or TLS without it) the first
// bytes decide: the HTTP/2 client preface (RFC 9113 §3.4) is HTTP/2, anything else HTTP/1.1.
// NeedMoreData while the bytes so far are a proper prefix of the preface.
SelectedCodec selectCodec(HcmConfig::CodecType type, std::string_view alpn,
                          const buffer::Buffer& data, bool end_stream);

}  // namespace remora::filters::network::http_connection_manager
