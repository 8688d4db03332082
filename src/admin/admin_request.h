#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace remora::admin {

inline constexpr std::string_view kTextContentType = "text/plain; charset=UTF-8";
inline constexpr std::string_view kJsonContentType = "application/json";

// A decoded query string (?a=b&c): percent-decoded keys and values, in order.
class QueryParams {
 public:
  // Parses the part after '?'; malformed escapes are kept literally, as Envoy does.
  static QueryParams parse(std::string_view query);
  // The first value of `key`; nullopt when absent ("?usedonly" has an empty value).
  std::optional<std::string_view> get(std::string_view key) const;
  bool has(std::string_view key) const { return get(key).has_value(); }
  bool empty() const { return params_.empty(); }
  const std::vector<std::pair<std::string, std::string>>& all() const { return params_; }

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

// What a handler answers. The admin listener turns it into an HTTP/1.1 response.
struct AdminResponse {
  uint16_t code = 200;
  std::string content_type{kTextContentType};
  std::string body;
  // Runs once the response has been handed to the connection (e.g. shutdown after the "OK" of
  // /quitquitquit has been written), so the client always sees the reply.
  std::function<void()> after_response;
};

// Splits "/path?query" at the first '?'.
inline std::pair<std::string_view, std::string_view> splitPathAndQuery(std::string_view target) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

}  // namespace remora::admin
