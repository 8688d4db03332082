#pragma once

#include <string_view>

namespace remora::http {

// ALPN protocol ids (RFC 7301 registry) as Envoy's Http::Utility::AlpnNames spells them.
inline constexpr std::string_view kAlpnHttp2 = "h2";
inline constexpr std::string_view kAlpnHttp11 = "http/1.1";

}  // namespace remora::http
