#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace remora::http::http1 {

// Verdict of one incremental parse step.
enum class ParseStatus : uint8_t { NeedMore, Done, Error };

// What a parse step reports. `consumed` is meaningful for Done (bytes of the element just parsed)
// and for the chunked decoder's NeedMore (input bytes it took); `code` is the HTTP status to
// answer with on Error and `reason` a static string naming the fault (for logs and local replies).
struct ParseResult {
  ParseStatus status = ParseStatus::NeedMore;
  size_t consumed = 0;
  uint16_t code = 0;
  std::string_view reason;

  static ParseResult needMore(size_t consumed = 0) {
    return {ParseStatus::NeedMore, consumed, 0, {}};
  }
  static ParseResult done(size_t consumed) { return {ParseStatus::Done, consumed, 0, {}}; }
  static ParseResult error(uint16_t code, std::string_view reason) {
    return {ParseStatus::Error, 0, code, reason};
  }
  bool ok() const { return status != ParseStatus::Error; }
};

}  // namespace remora::http::http1
