#include "http/http1/field_line.h"

#include <cstdint>
#include <cstring>

#include "http/http1/chars.h"

namespace remora::http::http1 {

namespace {

// Every byte of a field value is checked on every request and response. Eight at a time: a word
// whose bytes are all in 0x20..0x7e or 0x80..0xff (the overwhelming case) passes with a few
// arithmetic operations; a word holding anything else (HTAB, which is allowed, or a CTL/DEL,
// which is not) is looked at byte by byte with the table.
constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighBits = 0x8080808080808080ull;

// Non-zero when some byte of `w` is below 0x20 or is 0x7f (exact, from the classic "has a zero
// byte" / "has a byte less than n" word tricks).
inline uint64_t maybeInvalid(uint64_t w) {
  const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighBits;
  const uint64_t x = w ^ (kOnes * 0x7f);
  const uint64_t del = (x - kOnes) & ~x & kHighBits;
  return below_space | del;
}

bool validFieldValue(std::string_view value) {
  const char* p = value.data();
  size_t n = value.size();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    if (maybeInvalid(w) != 0) {
      for (int i = 0; i < 8; ++i) {
        if (!isFieldValueChar(p[i])) return false;
      }
    }
    p += 8;
    n -= 8;
  }
  for (size_t i = 0; i < n; ++i) {
    if (!isFieldValueChar(p[i])) return false;
  }
  return true;
}

}  // namespace

ParseResult parseFieldLine(std::string_view line, HeaderField& out) {
  if (line.empty()) return ParseResult::error(400, "empty header line");
  // A continuation line: obs-fold is deprecated and a smuggling vector, so it is an error.
  if (isWhitespace(line.front())) return ParseResult::error(400, "obsolete line folding");
  size_t colon = 0;
  while (colon < line.size() && isTchar(line[colon])) ++colon;
  if (colon == line.size()) return ParseResult::error(400, "header line without colon");
  if (line[colon] != ':') {
    if (isWhitespace(line[colon])) return ParseResult::error(400, "whitespace before colon");
    return ParseResult::error(400, "invalid character in header name");
  }
  if (colon == 0) return ParseResult::error(400, "empty header name");
  std::string_view value = line.substr(colon + 1);
  if (!validFieldValue(value)) return ParseResult::error(400, "invalid character in header value");
  out.name = line.substr(0, colon);
  out.value = trimOws(value);
  return ParseResult::needMore();
}

}  // namespace remora::http::http1
