#pragma once

#include <string>
#include <string_view>

namespace remora {

// Appends `s` as a quoted JSON string (RFC 8259 escapes; other control characters as \u00XX).
void appendJsonString(std::string& out, std::string_view s);

}  // namespace remora
