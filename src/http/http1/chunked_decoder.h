#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "http/http1/field_line.h"
#include "http/http1/parse_result.h"

namespace remora::http::http1 {

struct ChunkedDecoderLimits {
  // Larger sizes are 413; more than 16 significant hex digits is 400 (it cannot be a size).
  uint64_t max_chunk_size = std::numeric_limits<int64_t>::max();
  size_t max_line_bytes = 4096;  // chunk-size line with its extensions
  size_t max_trailer_bytes = 60 * 1024;
  size_t max_trailers = 100;
};

// Decodes a chunked message body (RFC 9112 §7.1) incrementally from bytes as they arrive, in any
// split. Chunk data is handed out as views into the input (no copy); only chunk-size lines split
// across reads and the trailer section are copied, both bounded by the limits. Chunk extensions
// are validated and skipped; trailers follow the same field rules as headers.
class ChunkedDecoder {
 public:
  // Receives the decoded body.
  class Callbacks {
   public:
    virtual ~Callbacks() = default;
    // A piece of chunk data; the view is valid only during the call.
    virtual void onBodyData(std::string_view data) = 0;
  };

  explicit ChunkedDecoder(ChunkedDecoderLimits limits = {});

  // Decodes from `input`. NeedMore: all of `input` was taken and more is needed. Done: the body
  // ended; `consumed` bytes of `input` belonged to it and the rest is the next message. Error is
  // sticky until reset().
  ParseResult decode(std::string_view input, Callbacks& callbacks);

  // The trailer fields, valid after Done until reset().
  const std::vector<HeaderField>& trailers() const { return trailers_; }
  // Body bytes delivered so far.
  uint64_t bodyBytes() const { return body_bytes_; }
  // Prepares for the next message; keeps allocated capacity.
  void reset();

 private:
  enum class State : uint8_t { Size, Data, DataCr, DataLf, Trailer, Done, Error };

  ParseResult fail(uint16_t code, std::string_view reason);
  // Collects one CRLF-terminated line from input[pos..]. Returns true with `line` (without CRLF)
  // when complete; false when input ran out (the partial line is saved) or on error (state_).
  bool takeLine(std::string_view input, size_t& pos, size_t limit, std::string_view& line);
  ParseResult onSizeLine(std::string_view line);
  ParseResult onTrailerLine(std::string_view line);

  const ChunkedDecoderLimits limits_;
  State state_ = State::Size;
  ParseResult error_;
  uint64_t remaining_ = 0;  // bytes left in the current chunk
  uint64_t body_bytes_ = 0;
  std::string line_;         // a partial line carried over between calls
  std::string trailer_raw_;  // trailer lines (without CRLF) back to back
  struct FieldSpan {
    size_t name_offset, name_length, value_offset, value_length;
  };
  std::vector<FieldSpan> trailer_spans_;
  std::vector<HeaderField> trailers_;
};

}  // namespace remora::http::http1
