#include "common/base64.h"

#include <array>
#include <cstdint>

namespace remora {

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr int8_t kPad = -2;
constexpr int8_t kBad = -1;

constexpr std::array<int8_t, 256> makeDecodeTable() {
  std::array<int8_t, 256> table{};
  for (auto& v : table) v = kBad;
  for (int i = 0; i < 64; ++i)
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  table[static_cast<unsigned char>('=')] = kPad;
  return table;
}
constexpr auto kDecode = makeDecodeTable();
}  // namespace

std::string base64Encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t n = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<unsigned char>(data[i]) << 16;
    if (rest == 2) n |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int8_t v[4];
    for (int k = 0; k < 4; ++k) v[k] = kDecode[static_cast<unsigned char>(text[i + k])];
    // Padding only as "xx==" or "xxx=".
    if (v[0] < 0 || v[1] < 0) return std::nullopt;
    if (v[2] == kBad || v[3] == kBad || (v[2] == kPad && v[3] != kPad)) return std::nullopt;
    const uint32_t n = (static_cast<uint32_t>(v[0]) << 18) | (static_cast<uint32_t>(v[1]) << 12) |
                       (v[2] >= 0 ? static_cast<uint32_t>(v[2]) << 6 : 0) |
                       (v[3] >= 0 ? static_cast<uint32_t>(v[3]) : 0);
    out += static_cast<char>((n >> 16) & 0xff);
    if (v[2] >= 0) out += static_cast<char>((n >> 8) & 0xff);
    if (v[3] >= 0) out += static_cast<char>(n & 0xff);
  }
  return out;
}

}  // namespace remora
