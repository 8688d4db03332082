#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "http/http1/field_line.h"
#include "http/http1/parse_result.h"

namespace remora::http::http1 {

// The four request-target forms of RFC 9112 §3.2.
enum class TargetForm : uint8_t { Origin, Absolute, Authority, Asterisk };

// A parsed request head. Every view points into the caller's bytes that were passed to
// RequestParser::parse() and is valid as long as those bytes are.
struct RequestHead {
  std::string_view method;
  std::string_view target;
  TargetForm target_form = TargetForm::Origin;
  uint8_t version_minor = 1;         // HTTP/1.<minor>; only 1.0 and 1.1 are accepted
  std::vector<HeaderField> headers;  // in arrival order, names as sent
  std::string_view host;             // the Host header's value; empty when absent
  bool has_host = false;
  std::optional<uint64_t> content_length;
  bool chunked = false;    // Transfer-Encoding: chunked (the only coding accepted)
  bool keep_alive = true;  // from the version and the Connection header

  // The first header with this name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
  // True when the request carries a body whose framing is known up front or chunked.
  bool hasBody() const { return chunked || content_length.value_or(0) > 0; }
};

struct RequestParserLimits {
  size_t max_head_bytes = 60 * 1024;  // Envoy's default max_request_headers_kb
  size_t max_headers = 100;           // Envoy's default max_headers_count
};

// A strict, incremental HTTP/1.1 request-head parser (RFC 9112/9110). Anything ambiguous between
// peers (bare LF, obs-fold, CL+TE, conflicting Content-Length, unknown codings) is an error rather
// than a guess, because a proxy that guesses differently from its upstream can be smuggled through.
//
// The caller keeps the request's bytes contiguous and calls parse() with all of them each time
// more arrive; the parser remembers where it stopped, so each byte is scanned once. Views in head()
// are built only at Done, so the caller may move its bytes (e.g. grow a string) between calls as
// long as the prefix already passed is unchanged.
class RequestParser {
 public:
  explicit RequestParser(RequestParserLimits limits = {});

  // Parses the head at the start of `data`. NeedMore: the head is incomplete. Done: head() is
  // valid and `consumed` is the head's length including its final CRLF. Error: sticky until
  // reset().
  ParseResult parse(std::string_view data);

  // The head of the last Done parse.
  const RequestHead& head() const { return head_; }

  // Forgets the request so the parser can take the next one on a keep-alive connection; keeps
  // allocated capacity.
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

  ParseResult fail(uint16_t code, std::string_view reason);
  ParseResult onRequestLine(std::string_view data, size_t start, size_t end);
  ParseResult onHeaderLine(std::string_view data, size_t start, size_t end);
  ParseResult onContentLength(std::string_view value);
  ParseResult onTransferEncoding(std::string_view value);
  void onConnection(std::string_view value);
  ParseResult onHeadComplete(std::string_view data, size_t end);

  const RequestParserLimits limits_;
  RequestHead head_;
  ParseResult result_;     // sticky Done or Error
  size_t scan_pos_ = 0;    // next byte not yet looked at
  size_t line_start_ = 0;  // first byte of the line being scanned
  bool have_request_line_ = false;
  Span method_{0, 0};
  Span target_{0, 0};
  Span host_{0, 0};
  std::vector<FieldSpan> fields_;
  uint32_t host_count_ = 0;
  bool saw_transfer_encoding_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
};

}  // namespace remora::http::http1
