#include "http/codec1/codec_common.h"

#include <algorithm>
#include <cstring>

#include "http/http1/chars.h"

namespace remora::http::codec1 {

std::string_view reasonPhrase(uint32_t code) {
  switch (code) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Entity";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string& headScratch() {
  thread_local std::string scratch;
  scratch.clear();
  return scratch;
}

void appendHeaderLines(const HeaderMap& headers, std::string& out, std::string_view skip,
                       std::string_view skip2) {
  for (const auto& e : headers) {
    if (e.key.empty() || e.key[0] == ':') continue;
    if (e.key == headers::kTransferEncoding || (!skip.empty() && e.key == skip) ||
        (!skip2.empty() && e.key == skip2)) {
      continue;
    }
    // One growth and two copies into place instead of four appends, each checking capacity.
    const size_t at = out.size();
    out.resize(at + e.key.size() + e.value.size() + 4);
    char* p = out.data() + at;
    std::memcpy(p, e.key.data(), e.key.size());
    p += e.key.size();
    *p++ = ':';
    *p++ = ' ';
    std::memcpy(p, e.value.data(), e.value.size());
    p += e.value.size();
    *p++ = '\r';
    *p = '\n';
  }
}

bool connectionHas(const HeaderMap& headers, std::string_view token) {
  bool found = false;
  for (std::string_view value : headers.getAll(headers::kConnection)) {
    http1::forEachListElement(value, [&](std::string_view element) {
      if (http1::equalsIgnoreCase(element, token)) found = true;
      return !found;
    });
  }
  return found;
}

bool isUpgrade(const HeaderMap& headers) {
  return headers.has(headers::kUpgrade) && connectionHas(headers, "upgrade");
}

void removeUpgrade(HeaderMap& headers) {
  headers.remove(headers::kUpgrade);
  headers.remove("http2-settings");
  std::string kept;
  for (std::string_view value : headers.getAll(headers::kConnection)) {
    http1::forEachListElement(value, [&](std::string_view element) {
      if (!http1::equalsIgnoreCase(element, "upgrade") &&
          !http1::equalsIgnoreCase(element, "http2-settings")) {
        if (!kept.empty()) kept.append(", ");
        kept.append(element);
      }
      return true;
    });
  }
  if (kept.empty()) {
    headers.remove(headers::kConnection);
  } else {
    headers.set(headers::kConnection, kept);
  }
}

void addFields(const std::vector<http1::HeaderField>& fields, HeaderMap& map) {
  for (const auto& f : fields) map.add(f.name, f.value);
}

std::string_view requestErrorDetails(const http1::ParseResult& result) {
  const std::string_view r = result.reason;
  if (result.code == 431) {
    return r == "too many headers" ? "http1.too_many_headers" : "http1.headers_too_large";
  }
  if (result.code == 501) return "http1.invalid_transfer_encoding";
  if (r.find("invalid character") != std::string_view::npos || r == "bare LF" ||
      r == "header line without colon" || r == "empty header name") {
    return "http1.invalid_characters";
  }
  if (r == "both Content-Length and Transfer-Encoding") {
    return "http1.content_length_and_chunked_not_allowed";
  }
  if (r == "invalid request target") return "http1.invalid_url";
  return "http1.codec_error";
}

void BodyReader::start(Mode mode, uint64_t content_length) {
  mode_ = mode;
  remaining_ = content_length;
  chunked_.reset();
}

// Records where the chunked decoder found data, as offsets into the input; the bytes are moved
// only after decoding, so no view is held across a change to the buffer.
class BodyReader::Collector : public http1::ChunkedDecoder::Callbacks {
 public:
  explicit Collector(std::vector<Op>& ops) : ops_(ops) {}
  void onBodyData(std::string_view data) override {
    const size_t offset = base_ + static_cast<size_t>(data.data() - slice_.data());
    ops_.push_back({offset - cursor_, data.size()});
    cursor_ = offset + data.size();
  }
  void setSlice(std::string_view slice, size_t base) {
    slice_ = slice;
    base_ = base;
  }
  size_t cursor() const { return cursor_; }

 private:
  std::vector<Op>& ops_;
  std::string_view slice_;
  size_t base_ = 0;
  size_t cursor_ = 0;
};

http1::ParseResult BodyReader::read(buffer::Buffer& input, buffer::Buffer& out) {
  switch (mode_) {
    case Mode::None:
      return http1::ParseResult::done(0);
    case Mode::CloseDelimited:
      out.move(input);
      return http1::ParseResult::needMore();
    case Mode::ContentLength: {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, input.length()));
      out.move(input, n);
      remaining_ -= n;
      return remaining_ == 0 ? http1::ParseResult::done(n) : http1::ParseResult::needMore(n);
    }
    case Mode::Chunked:
      break;
  }
  std::vector<std::string_view> slices;
  input.forEachSlice([&](std::string_view s) { slices.push_back(s); });
  ops_.clear();
  Collector collector(ops_);
  size_t base = 0;
  size_t consumed = 0;
  http1::ParseResult result = http1::ParseResult::needMore();
  for (std::string_view slice : slices) {
    collector.setSlice(slice, base);
    result = chunked_.decode(slice, collector);
    if (result.status == http1::ParseStatus::Done) {
      consumed = base + result.consumed;
      break;
    }
    if (result.status == http1::ParseStatus::Error) return result;
    base += slice.size();
    consumed = base;
  }
  for (const Op& op : ops_) {
    input.drain(op.skip);
    out.move(input, op.take);
  }
  input.drain(consumed - collector.cursor());
  return result.status == http1::ParseStatus::Done ? http1::ParseResult::done(consumed) : result;
}

}  // namespace remora::http::codec1
