#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace remora {

// Standard base64 (RFC 4648 §4, '+' '/' and '=' padding).

// Encodes `data`, padded to a multiple of 4 characters.
std::string base64Encode(std::string_view data);

// Decodes whole 4-character groups; padding may end any group, so concatenated padded
// encodings decode too (as gRPC-web text bodies may be sent). nullopt when the length is not a
// multiple of 4 or a character is outside the alphabet.
std::optional<std::string> base64Decode(std::string_view text);

}  // namespace remora
