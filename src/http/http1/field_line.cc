#include "http/http1/field_line.h"

#include "http/http1/chars.h"

namespace remora::http::http1 {

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
  for (char c : value) {
    if (!isFieldValueChar(c)) return ParseResult::error(400, "invalid character in header value");
  }
  out.name = line.substr(0, colon);
  out.value = trimOws(value);
  return ParseResult::needMore();
}

}  // namespace remora::http::http1
