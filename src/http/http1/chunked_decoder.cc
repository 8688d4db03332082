#include "http/http1/chunked_decoder.h"

#include <algorithm>
#include <cstring>

#include "http/http1/chars.h"

namespace remora::http::http1 {

ChunkedDecoder::ChunkedDecoder(ChunkedDecoderLimits limits) : limits_(limits) {}

void ChunkedDecoder::reset() {
  state_ = State::Size;
  error_ = ParseResult::needMore();
  remaining_ = 0;
  body_bytes_ = 0;
  line_.clear();
  trailer_raw_.clear();
  trailer_spans_.clear();
  trailers_.clear();
}

ParseResult ChunkedDecoder::fail(uint16_t code, std::string_view reason) {
  state_ = State::Error;
  error_ = ParseResult::error(code, reason);
  return error_;
}

bool ChunkedDecoder::takeLine(std::string_view input, size_t& pos, size_t limit,
                              std::string_view& line) {
  const char* lf =
      static_cast<const char*>(std::memchr(input.data() + pos, '\n', input.size() - pos));
  const size_t end = lf == nullptr ? input.size() : static_cast<size_t>(lf - input.data()) + 1;
  std::string_view piece = input.substr(pos, end - pos);
  pos = end;
  if (line_.size() + piece.size() > limit) {
    if (state_ == State::Size) {
      fail(400, "chunk size line too long");
    } else {
      fail(431, "trailers too large");
    }
    return false;
  }
  if (lf == nullptr) {
    line_.append(piece);
    return false;
  }
  // Zero-copy when the whole line arrived in this read, which is the common case.
  std::string_view full = piece;
  if (!line_.empty()) {
    line_.append(piece);
    full = line_;
  }
  if (full.size() < 2 || full[full.size() - 2] != '\r') {
    fail(400, "bare LF");
    return false;
  }
  line = full.substr(0, full.size() - 2);
  return true;
}

ParseResult ChunkedDecoder::onSizeLine(std::string_view line) {
  size_t i = 0;
  uint64_t size = 0;
  size_t significant = 0;
  for (; i < line.size(); ++i) {
    const int v = hexValue(line[i]);
    if (v < 0) break;
    if (significant > 0 || v != 0) ++significant;
    if (significant > 16) return fail(400, "chunk size overflow");
    size = (size << 4) | static_cast<uint64_t>(v);
  }
  if (i == 0) return fail(400, "invalid chunk size");
  // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): skipped, but it must start
  // with ';' and carry no control characters.
  std::string_view ext = line.substr(i);
  size_t j = 0;
  while (j < ext.size() && isWhitespace(ext[j])) ++j;
  if (j < ext.size() && ext[j] != ';') return fail(400, "invalid chunk size");
  if (j > 0 && j == ext.size()) return fail(400, "invalid chunk size");
  for (char c : ext) {
    if (!isFieldValueChar(c)) return fail(400, "invalid chunk extension");
  }
  if (size > limits_.max_chunk_size) return fail(413, "chunk too large");
  remaining_ = size;
  state_ = size == 0 ? State::Trailer : State::Data;
  return ParseResult::needMore();
}

ParseResult ChunkedDecoder::onTrailerLine(std::string_view line) {
  HeaderField field;
  ParseResult r = parseFieldLine(line, field);
  if (!r.ok()) return fail(r.code, r.reason);
  if (trailer_spans_.size() == limits_.max_trailers) return fail(431, "too many trailers");
  if (trailer_raw_.size() + line.size() > limits_.max_trailer_bytes) {
    return fail(431, "trailers too large");
  }
  const size_t base = trailer_raw_.size();
  trailer_spans_.push_back(
      {base + static_cast<size_t>(field.name.data() - line.data()), field.name.size(),
       base + static_cast<size_t>(field.value.data() - line.data()), field.value.size()});
  trailer_raw_.append(line);
  return ParseResult::needMore();
}

ParseResult ChunkedDecoder::decode(std::string_view input, Callbacks& callbacks) {
  size_t pos = 0;
  while (pos < input.size()) {
    switch (state_) {
      case State::Error:
        return error_;
      case State::Done:
        return ParseResult::done(0);
      case State::Size: {
        std::string_view line;
        if (!takeLine(input, pos, limits_.max_line_bytes, line)) break;
        ParseResult r = onSizeLine(line);
        line_.clear();
        if (!r.ok()) return r;
        break;
      }
      case State::Data: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, input.size() - pos));
        callbacks.onBodyData(input.substr(pos, n));
        pos += n;
        remaining_ -= n;
        body_bytes_ += n;
        if (remaining_ == 0) state_ = State::DataCr;
        break;
      }
      case State::DataCr:
        if (input[pos++] != '\r') return fail(400, "missing CRLF after chunk data");
        state_ = State::DataLf;
        break;
      case State::DataLf:
        if (input[pos++] != '\n') return fail(400, "missing CRLF after chunk data");
        state_ = State::Size;
        break;
      case State::Trailer: {
        std::string_view line;
        if (!takeLine(input, pos, limits_.max_trailer_bytes, line)) break;
        if (line.empty()) {
          line_.clear();
          state_ = State::Done;
          trailers_.clear();
          for (const auto& s : trailer_spans_) {
            std::string_view raw = trailer_raw_;
            trailers_.push_back({raw.substr(s.name_offset, s.name_length),
                                 raw.substr(s.value_offset, s.value_length)});
          }
          return ParseResult::done(pos);
        }
        ParseResult r = onTrailerLine(line);
        line_.clear();
        if (!r.ok()) return r;
        break;
      }
    }
    if (state_ == State::Error) return error_;
  }
  if (state_ == State::Error) return error_;
  if (state_ == State::Done) return ParseResult::done(0);
  return ParseResult::needMore(pos);
}

}  // namespace remora::http::http1
