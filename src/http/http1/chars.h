#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "common/ascii_words.h"

namespace remora::http::http1 {

// Character classes of RFC 9110/9112 as 256-entry tables: one load per byte on the hot path
// instead of a chain of comparisons.
namespace detail {
constexpr std::array<bool, 256> makeTcharTable() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<uint8_t>(c)] = true;
  return t;
}
// field-value octets: VCHAR, obs-text, SP, HTAB. Everything else (CTLs, NUL, CR, LF, DEL) is out.
constexpr std::array<bool, 256> makeFieldValueTable() {
  std::array<bool, 256> t{};
  for (int c = 0x21; c <= 0x7e; ++c) t[c] = true;
  for (int c = 0x80; c <= 0xff; ++c) t[c] = true;
  t[' '] = true;
  t['\t'] = true;
  return t;
}
inline constexpr std::array<bool, 256> kTchar = makeTcharTable();
inline constexpr std::array<bool, 256> kFieldValue = makeFieldValueTable();
}  // namespace detail

inline bool isTchar(char c) { return detail::kTchar[static_cast<uint8_t>(c)]; }
inline bool isFieldValueChar(char c) { return detail::kFieldValue[static_cast<uint8_t>(c)]; }
inline bool isVchar(char c) { return c > 0x20 && c < 0x7f; }
inline bool isDigit(char c) { return c >= '0' && c <= '9'; }
inline bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool isWhitespace(char c) { return c == ' ' || c == '\t'; }
inline int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
inline bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!isTchar(c)) return false;
  }
  return true;
}

// ASCII case-insensitive equality; header names are ASCII tokens, so no locale is involved.
// A word at a time: parsers and the connection manager compare names and tokens on every message.
inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ascii::foldedEqual<false>(a.data(), b.data(), a.size());
}

// Strips leading and trailing SP/HTAB (OWS).
inline std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isWhitespace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isWhitespace(s.back())) s.remove_suffix(1);
  return s;
}

// Calls fn(element) for each non-empty element of a comma-separated list (RFC 9110 §5.6.1:
// empty elements are ignored), with OWS trimmed. Stops early when fn returns false.
template <class Fn>
bool forEachListElement(std::string_view value, Fn&& fn) {
  while (true) {
    size_t comma = value.find(',');
    std::string_view element = trimOws(value.substr(0, comma));
    if (!element.empty() && !fn(element)) return false;
    if (comma == std::string_view::npos) return true;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace remora::http::http1
