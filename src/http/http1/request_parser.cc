#include "http/http1/request_parser.h"

#include <cstring>

#include "common/assert.h"
#include "http/http1/chars.h"

namespace remora::http::http1 {

namespace {

bool validAbsoluteForm(std::string_view target) {
  // scheme "://" authority [path-abempty] ["?" query]; a proxy needs the authority to route.
  if (target.empty() || !isAlpha(target[0])) return false;
  size_t i = 1;
  while (i < target.size() && (isAlpha(target[i]) || isDigit(target[i]) || target[i] == '+' ||
                               target[i] == '-' || target[i] == '.')) {
    ++i;
  }
  if (target.substr(i, 3) != "://") return false;
  std::string_view rest = target.substr(i + 3);
  size_t authority_end = rest.find_first_of("/?");
  return authority_end != 0 && !rest.empty();
}

bool validAuthorityForm(std::string_view target) {
  // host ":" port, host possibly an IP-literal in brackets; no userinfo, path or query.
  size_t colon = target.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == target.size()) return false;
  std::string_view port = target.substr(colon + 1);
  if (port.size() > 5) return false;
  for (char c : port) {
    if (!isDigit(c)) return false;
  }
  std::string_view host = target.substr(0, colon);
  if (host.find_first_of("/?#@") != std::string_view::npos) return false;
  if (host.front() == '[') return host.back() == ']' && host.size() > 2;
  return host.find(':') == std::string_view::npos;
}

}  // namespace

std::optional<std::string_view> RequestHead::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (equalsIgnoreCase(h.name, name)) return h.value;
  }
  return std::nullopt;
}

RequestParser::RequestParser(RequestParserLimits limits) : limits_(limits) { reset(); }

void RequestParser::reset() {
  head_.method = {};
  head_.target = {};
  head_.target_form = TargetForm::Origin;
  head_.version_minor = 1;
  head_.headers.clear();
  head_.host = {};
  head_.has_host = false;
  head_.content_length.reset();
  head_.chunked = false;
  head_.keep_alive = true;
  result_ = ParseResult::needMore();
  scan_pos_ = 0;
  line_start_ = 0;
  have_request_line_ = false;
  method_ = target_ = host_ = Span{0, 0};
  fields_.clear();
  host_count_ = 0;
  saw_transfer_encoding_ = false;
  connection_close_ = false;
  connection_keep_alive_ = false;
}

ParseResult RequestParser::fail(uint16_t code, std::string_view reason) {
  result_ = ParseResult::error(code, reason);
  return result_;
}

ParseResult RequestParser::parse(std::string_view data) {
  if (result_.status != ParseStatus::NeedMore) return result_;
  RELEASE_ASSERT(data.size() >= scan_pos_, "request bytes shrank between parse() calls");
  while (scan_pos_ < data.size()) {
    const char* base = data.data();
    const void* lf = std::memchr(base + scan_pos_, '\n', data.size() - scan_pos_);
    if (lf == nullptr) {
      scan_pos_ = data.size();
      break;
    }
    const size_t lf_pos = static_cast<const char*>(lf) - base;
    scan_pos_ = lf_pos + 1;
    if (scan_pos_ > limits_.max_head_bytes) return fail(431, "request headers too large");
    if (lf_pos == line_start_ || data[lf_pos - 1] != '\r') return fail(400, "bare LF");
    const size_t start = line_start_;
    const size_t end = lf_pos - 1;  // excludes CRLF
    line_start_ = scan_pos_;
    ParseResult r;
    if (!have_request_line_) {
      // RFC 9112 §2.2: a server SHOULD ignore empty lines received before the request-line.
      if (start == end) continue;
      r = onRequestLine(data, start, end);
    } else if (start == end) {
      return onHeadComplete(data, scan_pos_);
    } else {
      r = onHeaderLine(data, start, end);
    }
    if (!r.ok()) return r;
  }
  if (data.size() > limits_.max_head_bytes) return fail(431, "request headers too large");
  return ParseResult::needMore();
}

ParseResult RequestParser::onRequestLine(std::string_view data, size_t start, size_t end) {
  std::string_view line = data.substr(start, end - start);
  // method SP request-target SP HTTP-version, single spaces only (RFC 9112 §3).
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return fail(400, "malformed request line");
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return fail(400, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!isToken(method)) return fail(400, "invalid method");
  if (target.empty()) return fail(400, "empty request target");
  for (char c : target) {
    if (!isVchar(c)) return fail(400, "invalid character in request target");
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !isDigit(version[5]) ||
      version[6] != '.' || !isDigit(version[7])) {
    return fail(400, "malformed HTTP version");
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    return fail(505, "HTTP version not supported");
  }
  head_.version_minor = static_cast<uint8_t>(version[7] - '0');

  const bool connect = method == "CONNECT";
  if (connect) {
    if (!validAuthorityForm(target)) return fail(400, "CONNECT requires authority-form target");
    head_.target_form = TargetForm::Authority;
  } else if (target == "*") {
    if (method != "OPTIONS") return fail(400, "asterisk-form is only for OPTIONS");
    head_.target_form = TargetForm::Asterisk;
  } else if (target.front() == '/') {
    head_.target_form = TargetForm::Origin;
  } else if (validAbsoluteForm(target)) {
    head_.target_form = TargetForm::Absolute;
  } else {
    return fail(400, "invalid request target");
  }
  method_ = {start, method.size()};
  target_ = {start + sp1 + 1, target.size()};
  have_request_line_ = true;
  return ParseResult::needMore();
}

ParseResult RequestParser::onHeaderLine(std::string_view data, size_t start, size_t end) {
  HeaderField field;
  ParseResult r = parseFieldLine(data.substr(start, end - start), field);
  if (!r.ok()) return fail(r.code, r.reason);
  if (fields_.size() == limits_.max_headers) return fail(431, "too many headers");
  const size_t name_offset = field.name.data() - data.data();
  const size_t value_offset = field.value.data() - data.data();
  fields_.push_back({{name_offset, field.name.size()}, {value_offset, field.value.size()}});

  // Dispatch on length first: most headers are none of these, and this avoids four compares.
  switch (field.name.size()) {
    case 4:
      if (equalsIgnoreCase(field.name, "host")) {
        if (++host_count_ > 1) return fail(400, "multiple Host headers");
        host_ = {value_offset, field.value.size()};
      }
      break;
    case 10:
      if (equalsIgnoreCase(field.name, "connection")) onConnection(field.value);
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

ParseResult RequestParser::onContentLength(std::string_view value) {
  // Digits only; a list of identical values is what RFC 9110 §8.6 allows a recipient to accept,
  // any mismatch (in one line or across lines) is rejected as a framing conflict.
  bool any = false;
  bool ok = forEachListElement(value, [&](std::string_view element) {
    if (element.size() > 19) return false;  // would overflow uint64_t; no body is that large
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
  if (!ok || !any) return fail(400, "invalid Content-Length");
  return ParseResult::needMore();
}

ParseResult RequestParser::onTransferEncoding(std::string_view value) {
  saw_transfer_encoding_ = true;
  // Only a single `chunked` is implemented: any other coding is 501 (RFC 9112 §6.1), and a coding
  // after chunked (or chunked twice) leaves the framing ambiguous, so 400.
  uint16_t code = 0;
  forEachListElement(value, [&](std::string_view element) {
    if (!equalsIgnoreCase(element, "chunked")) {
      code = 501;
      return false;
    }
    if (head_.chunked) {
      code = 400;
      return false;
    }
    head_.chunked = true;
    return true;
  });
  if (code == 501) return fail(501, "unsupported transfer coding");
  if (code == 400) return fail(400, "chunked applied more than once");
  return ParseResult::needMore();
}

void RequestParser::onConnection(std::string_view value) {
  forEachListElement(value, [&](std::string_view element) {
    if (equalsIgnoreCase(element, "close")) connection_close_ = true;
    if (equalsIgnoreCase(element, "keep-alive")) connection_keep_alive_ = true;
    return true;
  });
}

ParseResult RequestParser::onHeadComplete(std::string_view data, size_t end) {
  if (saw_transfer_encoding_) {
    if (!head_.chunked) return fail(400, "empty Transfer-Encoding");
    // RFC 9112 §6.1: both present is a smuggling attempt; a 1.0 request with TE is faulty framing.
    if (head_.content_length.has_value()) {
      return fail(400, "both Content-Length and Transfer-Encoding");
    }
    if (head_.version_minor == 0) return fail(400, "Transfer-Encoding in HTTP/1.0 request");
  }
  if (head_.version_minor == 1 && host_count_ == 0) return fail(400, "missing Host header");

  head_.method = method_.in(data);
  head_.target = target_.in(data);
  head_.has_host = host_count_ == 1;
  head_.host = head_.has_host ? host_.in(data) : std::string_view();
  head_.headers.reserve(fields_.size());
  for (const auto& f : fields_) head_.headers.push_back({f.name.in(data), f.value.in(data)});
  head_.keep_alive = !connection_close_ && (head_.version_minor == 1 || connection_keep_alive_);
  result_ = ParseResult::done(end);
  return result_;
}

}  // namespace remora::http::http1
