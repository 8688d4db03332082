#pragma once

#include <cstdint>
#include <string_view>

#include "admin/admin_request.h"
#include "buffer/buffer.h"

namespace remora::admin {

// The reason phrase for the status codes the admin answers with.
std::string_view reasonPhrase(uint16_t code);

// Serializes `response` as HTTP/1.1 into `out`: status line, content-type, content-length, the
// admin's cache headers (as Envoy's admin), "connection: close" when `close`, then the body unless
// `head_only` (HEAD requests get the headers of the GET).
void encodeResponse(const AdminResponse& response, bool head_only, bool close, buffer::Buffer& out);

}  // namespace remora::admin
