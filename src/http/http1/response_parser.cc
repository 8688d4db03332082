#include "http/http1/response_parser.h"

#include <cstring>

#include "common/assert.h"
#include "http/http1/chars.h"

namespace remora::http::http1 {

namespace {
constexpr uint16_t kUpstreamError = 502;
}  // namespace

std::optional<std::string_view> ResponseHead::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (equalsIgnoreCase(h.name, name)) return h.value;
  }
  return std::nullopt;
}

ResponseParser::ResponseParser(ResponseParserLimits limits) : limits_(limits) { reset(); }

void ResponseParser::reset() {
  head_.version_minor = 1;
  head_.status = 0;
  head_.reason = {};
  head_.headers.clear();
  head_.content_length.reset();
  head_.chunked = false;
  head_.keep_alive = true;
  result_ = ParseResult::needMore();
  scan_pos_ = 0;
  line_start_ = 0;
  have_status_line_ = false;
  reason_ = Span{0, 0};
  fields_.clear();
  saw_transfer_encoding_ = false;
  connection_close_ = false;
  connection_keep_alive_ = false;
}

ParseResult ResponseParser::fail(std::string_view reason) {
  result_ = ParseResult::error(kUpstreamError, reason);
  return result_;
}

ParseResult ResponseParser::parse(std::string_view data) {
  if (result_.status != ParseStatus::NeedMore) return result_;
  RELEASE_ASSERT(data.size() >= scan_pos_, "response bytes shrank between parse() calls");
  while (scan_pos_ < data.size()) {
    const char* base = data.data();
    const void* lf = std::memchr(base + scan_pos_, '\n', data.size() - scan_pos_);
    if (lf == nullptr) {
      scan_pos_ = data.size();
      break;
    }
    const size_t lf_pos = static_cast<const char*>(lf) - base;
    scan_pos_ = lf_pos + 1;
    if (scan_pos_ > limits_.max_head_bytes) return fail("response headers too large");
    if (lf_pos == line_start_ || data[lf_pos - 1] != '\r') return fail("bare LF");
    const size_t start = line_start_;
    const size_t end = lf_pos - 1;  // excludes CRLF
    line_start_ = scan_pos_;
    ParseResult r;
    if (!have_status_line_) {
      // Unlike a server, a client has no licence to skip empty lines before the status line.
      r = onStatusLine(data.substr(start, end - start), start);
    } else if (start == end) {
      return onHeadComplete(data, scan_pos_);
    } else {
      r = onHeaderLine(data, start, end);
    }
    if (!r.ok()) return r;
  }
  if (data.size() > limits_.max_head_bytes) return fail("response headers too large");
  return ParseResult::needMore();
}

ParseResult ResponseParser::onStatusLine(std::string_view line, size_t start) {
  // HTTP-version SP 3DIGIT SP [reason-phrase] (RFC 9112 §4). A missing final SP with no reason
  // ("HTTP/1.1 200") is accepted: common in the wild and unambiguous.
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || !isDigit(line[5]) || line[6] != '.' ||
      !isDigit(line[7]) || line[8] != ' ') {
    return fail("malformed status line");
  }
  if (line[5] != '1' || (line[7] != '0' && line[7] != '1')) {
    return fail("unsupported HTTP version");
  }
  if (!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11])) {
    return fail("malformed status code");
  }
  if (line.size() > 12 && line[12] != ' ') return fail("malformed status line");
  const uint16_t status =
      static_cast<uint16_t>((line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0'));
  if (status < 100 || status > 599) return fail("invalid status code");
  std::string_view reason = line.size() > 13 ? line.substr(13) : std::string_view();
  for (char c : reason) {
    if (!isFieldValueChar(c)) return fail("invalid character in reason phrase");
  }
  head_.version_minor = static_cast<uint8_t>(line[7] - '0');
  head_.status = status;
  reason_ = reason.empty() ? Span{start, 0} : Span{start + 13, reason.size()};
  have_status_line_ = true;
  return ParseResult::needMore();
}

ParseResult ResponseParser::onHeaderLine(std::string_view data, size_t start, size_t end) {
  HeaderField field;
  ParseResult r = parseFieldLine(data.substr(start, end - start), field);
  if (!r.ok()) return fail(r.reason);
  if (fields_.size() == limits_.max_headers) return fail("too many headers");
  const size_t name_offset = field.name.data() - data.data();
  const size_t value_offset = field.value.data() - data.data();
  fields_.push_back({{name_offset, field.name.size()}, {value_offset, field.value.size()}});
  switch (field.name.size()) {
    case 10:
      if (equalsIgnoreCase(field.name, "connection")) {
        forEachListElement(field.value, [&](std::string_view element) {
          if (equalsIgnoreCase(element, "close")) connection_close_ = true;
          if (equalsIgnoreCase(element, "keep-alive")) connection_keep_alive_ = true;
          return true;
        });
      }
      break;
    case 14:
      if (equalsIgnoreCase(field.name, "content-length")) return onContentLength(field.value);
      break;
    case 17:
      if (equalsIgnoreCase(field.name, "transfer-encoding")) {
        return onTransferEncoding(field.value);
      }
      break;
    default:
      break;
  }
  return ParseResult::needMore();
}

ParseResult ResponseParser::onContentLength(std::string_view value) {
  bool any = false;
  bool ok = forEachListElement(value, [&](std::string_view element) {
    if (element.size() > 19) return false;  // would overflow uint64_t
    uint64_t n = 0;
    for (char c : element) {
      if (!isDigit(c)) return false;
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (head_.content_length.has_value() && *head_.content_length != n) return false;
    head_.content_length = n;
    any = true;
    return true;
  });
  if (!ok || !any) return fail("invalid Content-Length");
  return ParseResult::needMore();
}

ParseResult ResponseParser::onTransferEncoding(std::string_view value) {
  saw_transfer_encoding_ = true;
  // A response may legally end in a non-chunked coding (close-delimited), but a proxy that reads
  // such framing differently from its client is a desync risk, so only one `chunked` passes.
  bool ok = forEachListElement(value, [&](std::string_view element) {
    if (!equalsIgnoreCase(element, "chunked") || head_.chunked) return false;
    head_.chunked = true;
    return true;
  });
  if (!ok) return fail("unsupported transfer coding");
  return ParseResult::needMore();
}

ParseResult ResponseParser::onHeadComplete(std::string_view data, size_t end) {
  if (saw_transfer_encoding_) {
    if (!head_.chunked) return fail("empty Transfer-Encoding");
    if (head_.content_length.has_value()) {
      return fail("both Content-Length and Transfer-Encoding");
    }
    if (head_.version_minor == 0) return fail("Transfer-Encoding in HTTP/1.0 response");
  }
  // RFC 9110 §8.6/§6.1: 1xx and 204 carry no body. A chunked one, or a 1xx with a length, means
  // the peer's framing is not what we would assume. A 204 with a Content-Length is common enough
  // to be answered (RFC 9112 §6.3: it ends at the blank line regardless), but the connection is
  // not trusted with another request: a body the server might still send would desynchronize it.
  bool suspect_framing = false;
  if (head_.status < 200 || head_.status == 204) {
    if (saw_transfer_encoding_) return fail("Transfer-Encoding on a bodiless status");
    if (head_.content_length.value_or(0) != 0) {
      if (head_.status != 204) return fail("Content-Length on a bodiless status");
      suspect_framing = true;
    }
  }
  head_.reason = reason_.in(data);
  head_.headers.reserve(fields_.size());
  for (const auto& f : fields_) head_.headers.push_back({f.name.in(data), f.value.in(data)});
  head_.keep_alive = !connection_close_ && !suspect_framing &&
                     (head_.version_minor == 1 || connection_keep_alive_);
  result_ = ParseResult::done(end);
  return result_;
}

}  // namespace remora::http::http1
