#pragma once

#include <string_view>

#include "http/http1/parse_result.h"

namespace remora::http::http1 {

// One header (or trailer) field as views into the bytes it was parsed from.
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

// Parses one field line without its CRLF: `name ":" OWS value OWS`. Rejects obs-fold (leading
// whitespace), whitespace before the colon, non-token names and CTLs in values, as RFC 9112 §5
// requires of a server that must not be desynchronized from the peers behind it. On success fills
// `out` with views into `line` and returns a NeedMore-status (i.e. ok) result.
ParseResult parseFieldLine(std::string_view line, HeaderField& out);

}  // namespace remora::http::http1
