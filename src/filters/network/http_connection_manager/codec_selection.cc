#include "filters/network/http_connection_manager/codec_selection.h"

#include <algorithm>

#include "http/alpn.h"

namespace remora::filters::network::http_connection_manager {

SelectedCodec selectCodec(HcmConfig::CodecType type, std::string_view alpn,
                          const buffer::Buffer& data, bool end_stream) {
  switch (type) {
    case HcmConfig::CodecType::Http1:
      return SelectedCodec::Http1;
    case HcmConfig::CodecType::Http2:
      return SelectedCodec::Http2;
    case HcmConfig::CodecType::Auto:
      break;
  }
  if (!alpn.empty()) return alpn == remora::http::kAlpnHttp2 ? SelectedCodec::Http2 : SelectedCodec::Http1;
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const size_t n = std::min(data.length(), kPreface.size());
  char head[kPreface.size()];
  data.copyOut(0, n, head);
  if (std::string_view(head, n) != kPreface.substr(0, n)) return SelectedCodec::Http1;
  if (n == kPreface.size()) return SelectedCodec::Http2;
  // A proper prefix (or nothing yet): wait, unless the peer already ended.
  return end_stream ? SelectedCodec::Http1 : SelectedCodec::NeedMoreData;
}

}  // namespace remora::filters::network::http_connection_manager
