#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "buffer/buffer.h"
#include "http/codec.h"
#include "http/header_map.h"
#include "http/http1/chunked_decoder.h"
#include "http/http1/field_line.h"
#include "http/http1/parse_result.h"

namespace remora::http::codec1 {

// The standard reason phrase for `code` ("OK", "Not Found"), or "Unknown".
std::string_view reasonPhrase(uint32_t code);

// An empty per-thread string to format a message head in before it is copied into a buffer: it
// keeps its capacity, so a head costs no allocation of its own. Valid until the next call on the
// thread (formatting a head calls out to nothing that formats another).
std::string& headScratch();

// Appends "name: value\r\n" for every regular header (pseudo-headers skipped). Headers the codec
// frames itself (transfer-encoding, and `skip`/`skip2` when non-empty) are left out, because
// writing the map's copy next to the codec's own would declare the framing twice.
void appendHeaderLines(const HeaderMap& headers, std::string& out, std::string_view skip = {},
                       std::string_view skip2 = {});

// True when a Connection header value lists `token` (case-insensitive).
bool connectionHas(const HeaderMap& headers, std::string_view token);

// An HTTP/1.1 upgrade request or response (RFC 9110 §7.8): an Upgrade header and "upgrade" in
// Connection. Envoy's Utility::isUpgrade.
bool isUpgrade(const HeaderMap& headers);

// Turns an upgrade request into a plain one: drops Upgrade (and HTTP2-Settings) and the
// "upgrade" and "http2-settings" tokens of Connection.
void removeUpgrade(HeaderMap& headers);

// Copies parsed fields into `map` (keys are lower-cased by HeaderMap).
void addFields(const std::vector<http1::HeaderField>& fields, HeaderMap& map);

// Envoy's response-code details for a request parse error ("http1.invalid_characters", ...).
std::string_view requestErrorDetails(const http1::ParseResult& result);

// Reads a message body from the front of a buffer, by Content-Length, chunked coding or until the
// connection closes. Body bytes are moved (whole slices where possible), never copied, except
// for chunk framing which the chunked decoder inspects in place.
class BodyReader {
 public:
  enum class Mode { None, ContentLength, Chunked, CloseDelimited };

  explicit BodyReader(http1::ChunkedDecoderLimits limits) : chunked_(limits) {}

  void start(Mode mode, uint64_t content_length = 0);
  // Moves the body bytes available at the front of `input` to `out`. NeedMore: more body to
  // come; Done: the body ended (chunked trailers in trailers()); Error: malformed chunking.
  http1::ParseResult read(buffer::Buffer& input, buffer::Buffer& out);
  const std::vector<http1::HeaderField>& trailers() const { return chunked_.trailers(); }
  Mode mode() const { return mode_; }

 private:
  // A contiguous piece of the input: skip `skip` framing bytes, then take `take` body bytes.
  struct Op {
    size_t skip;
    size_t take;
  };
  class Collector;

  Mode mode_ = Mode::None;
  uint64_t remaining_ = 0;
  http1::ChunkedDecoder chunked_;
  std::vector<Op> ops_;
};

}  // namespace remora::http::codec1
