#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "http/header_map.h"
#include "stream_info/stream_info.h"

namespace remora::access_log {

// Envoy's default access log format (configuration/observability/access_log/usage), with its
// trailing newline.
inline constexpr std::string_view kDefaultFormat =
    "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "
    "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" "
    "\"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n";

// What command operators read for one request. Header maps may be null (a TCP connection, or a
// request that never got a response).
struct FormatContext {
  const http::HeaderMap* request_headers = nullptr;
  const http::HeaderMap* response_headers = nullptr;
  const http::HeaderMap* response_trailers = nullptr;
  const stream_info::StreamInfo& stream_info;
  std::string_view local_reply_body;
};

// One operator's result. Typed so that JSON logs keep numbers as numbers; text logs print an
// absent value as "-".
struct FormatValue {
  enum class Type { kAbsent, kString, kNumber };
  Type type = Type::kAbsent;
  std::string text;     // kString
  uint64_t number = 0;  // kNumber

  static FormatValue absent() { return {}; }
  static FormatValue string(std::string s) { return {Type::kString, std::move(s), 0}; }
  static FormatValue num(uint64_t n) { return {Type::kNumber, {}, n}; }
  bool isAbsent() const { return type == Type::kAbsent; }
  // Appends the text form; `absent_text` for an absent value ("-", or "" for omit_empty_values).
  void appendTo(std::string& out, std::string_view absent_text) const;
};

// One parsed command operator, e.g. %REQ(X-ENVOY-ORIGINAL-PATH?:PATH):10%.
class CommandOperator {
 public:
  enum class Kind : uint8_t;

  // `command` is the name ("REQ"), `args` the text inside the parentheses (if any).
  static StatusOr<CommandOperator> create(std::string_view command,
                                          std::optional<std::string_view> args,
                                          std::optional<size_t> max_length);
  FormatValue evaluate(const FormatContext& context) const;

 private:
  FormatValue evaluateHeader(const http::HeaderMap* headers) const;

  Kind kind_{};
  std::string main_header_;         // REQ/RESP/TRAILER: lower-cased
  std::string alternative_header_;  // the part after '?', if any
  std::string text_;                // START_TIME's format; HOSTNAME's value
  std::optional<size_t> max_length_;
};

// A format string parsed once into literal text and command operators ("%%" is a literal '%').
class FormatString {
 public:
  // Errors name the bad or unknown operator; nothing unknown passes through silently.
  static StatusOr<FormatString> parse(std::string_view format);

  // Appends the formatted text; absent values print `absent_text`.
  void formatTo(std::string& out, const FormatContext& context,
                std::string_view absent_text = "-") const;
  std::string format(const FormatContext& context, std::string_view absent_text = "-") const {
    std::string out;
    formatTo(out, context, absent_text);
    return out;
  }
  // The operator when the whole string is exactly one operator (typed JSON keeps its type).
  const CommandOperator* singleOperator() const;

 private:
  struct Part {
    std::string literal;  // used when op is empty
    std::optional<CommandOperator> op;
  };
  std::vector<Part> parts_;
};

// Turns one request into one log entry (a text line or a JSON object plus newline).
class Formatter {
 public:
  virtual ~Formatter() = default;
  // The complete entry as written to the log.
  virtual std::string format(const FormatContext& context) const = 0;
};
using FormatterPtr = std::unique_ptr<const Formatter>;

// A plain-text formatter (text_format, text_format_source, or the default format).
class TextFormatter : public Formatter {
 public:
  TextFormatter(FormatString format, bool omit_empty_values)
      : format_(std::move(format)), omit_empty_values_(omit_empty_values) {}
  std::string format(const FormatContext& context) const override {
    return format_.format(context, omit_empty_values_ ? "" : "-");
  }

 private:
  FormatString format_;
  bool omit_empty_values_;
};

}  // namespace remora::access_log
