#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "http/http1/field_line.h"
#include "http/http1/parse_result.h"

namespace remora::http::http1 {

// A parsed response head. Views point into the bytes last passed to ResponseParser::parse().
struct ResponseHead {
  uint8_t version_minor = 1;         // HTTP/1.<minor>; only 1.0 and 1.1 are accepted
  uint16_t status = 0;               // 100..599
  std::string_view reason;           // may be empty
  std::vector<HeaderField> headers;  // in arrival order, names as sent
  std::optional<uint64_t> content_length;
  bool chunked = false;    // Transfer-Encoding: chunked (the only coding accepted)
  bool keep_alive = true;  // from the version and the Connection header

  // The first header with this name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
  bool informational() const { return status >= 100 && status < 200; }
};

struct ResponseParserLimits {
  size_t max_head_bytes = 60 * 1024;
  size_t max_headers = 100;
};

// A strict, incremental HTTP/1.1 response-head parser, the upstream twin of RequestParser: the
// same field-line rules, limits and calling convention (pass all the head's bytes each time,
// contiguous; views are built at Done). Framing that two peers could read differently is an
// error: Content-Length with Transfer-Encoding (RFC 9112 lets TE win, Envoy treats it as an
// upstream protocol error and so do we), conflicting Content-Lengths, codings other than a single
// chunked, Transfer-Encoding in HTTP/1.0, and a body announced on 1xx or a chunked 204 (a 204 with
// a Content-Length ends at its head, and its connection is not reused). Errors carry code 502: what
// a proxy answers its client when the upstream misbehaves.
class ResponseParser {
 public:
  explicit ResponseParser(ResponseParserLimits limits = {});

  // NeedMore: incomplete. Done: head() is valid; `consumed` is the head's length including the
  // final CRLF. Error: sticky until reset().
  ParseResult parse(std::string_view data);
  const ResponseHead& head() const { return head_; }
  // Prepares for the next response on the connection; keeps allocated capacity.
  void reset();

 private:
  struct Span {
    size_t offset;
    size_t length;
    std::string_view in(std::string_view data) const { return data.substr(offset, length); }
  };
  struct FieldSpan {
    Span name;
    Span value;
  };

  ParseResult fail(std::string_view reason);
  ParseResult onStatusLine(std::string_view line, size_t start);
  ParseResult onHeaderLine(std::string_view data, size_t start, size_t end);
  ParseResult onContentLength(std::string_view value);
  ParseResult onTransferEncoding(std::string_view value);
  ParseResult onHeadComplete(std::string_view data, size_t end);

  const ResponseParserLimits limits_;
  ResponseHead head_;
  ParseResult result_;
  size_t scan_pos_ = 0;
  size_t line_start_ = 0;
  bool have_status_line_ = false;
  Span reason_{0, 0};
  std::vector<FieldSpan> fields_;
  bool saw_transfer_encoding_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
};

}  // namespace remora::http::http1
