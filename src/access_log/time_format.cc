#include "access_log/time_format.h"

#include <fmt/format.h>

#include <ctime>

namespace remora::access_log {
namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// The first `digits` digits of the nanoseconds within the second, truncated (never rounded: a
// rounded 999.9 ms would print a fraction of the next second).
std::string fraction(uint64_t nanos, int digits) {
  std::string nine = fmt::format("{:09d}", nanos);
  return nine.substr(0, static_cast<size_t>(digits));
}

// Runs one strftime-only chunk (no Envoy extensions in it) through strftime.
void appendStrftime(std::string& out, const std::string& chunk, const std::tm& tm) {
  if (chunk.empty()) return;
  // strftime reports 0 both for "too small" and for an empty result; grow a few times, then
  // give up (an absurd format must not loop forever).
  size_t size = chunk.size() * 4 + 64;
  for (int attempt = 0; attempt < 4; ++attempt, size *= 4) {
    std::string buffer(size, '\0');
    size_t n = std::strftime(buffer.data(), buffer.size(), chunk.c_str(), &tm);
    if (n > 0) {
      out.append(buffer.data(), n);
      return;
    }
  }
}

}  // namespace

std::string formatTime(std::string_view format, stream_info::SystemTime time) {
  const auto since_epoch = duration_cast<nanoseconds>(time.time_since_epoch());
  const auto secs = duration_cast<seconds>(since_epoch);
  const int64_t epoch_seconds = secs.count();
  const uint64_t nanos = static_cast<uint64_t>((since_epoch - secs).count());
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);

  if (format.empty()) {
    // The default format is on every default log line: skip strftime.
    return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{}Z", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                       fraction(nanos, 3));
  }

  std::string out;
  std::string chunk;  // strftime text pending since the last Envoy extension
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c != '%' || i + 1 >= format.size()) {
      chunk += c;
      continue;
    }
    std::string_view rest = format.substr(i + 1);
    std::string special;
    size_t consumed = 0;  // characters after '%'
    if (rest[0] == 's') {
      special = std::to_string(epoch_seconds);
      consumed = 1;
    } else if (rest[0] == 'f') {
      special = fraction(nanos, 9);
      consumed = 1;
    } else if (rest.size() >= 2 && rest[0] >= '1' && rest[0] <= '9' && rest[1] == 'f') {
      special = fraction(nanos, rest[0] - '0');
      consumed = 2;
    } else if (rest.size() >= 3 && rest[0] == 'E' && rest[1] >= '0' && rest[1] <= '9' &&
               rest[2] == 'S') {
      int digits = rest[1] - '0';
      special = fmt::format("{:02d}", tm.tm_sec);
      if (digits > 0) special += "." + fraction(nanos, digits);
      consumed = 3;
    } else {
      // A strftime conversion (or "%%"): keep it and its next character for strftime.
      chunk += c;
      chunk += rest[0];
      ++i;
      continue;
    }
    appendStrftime(out, chunk, tm);
    chunk.clear();
    out += special;
    i += consumed;
  }
  appendStrftime(out, chunk, tm);
  return out;
}

}  // namespace remora::access_log
