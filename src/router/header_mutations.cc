#include "router/header_mutations.h"

#include <ctime>

#include "router/matchers.h"

namespace remora::router {
namespace {

// Envoy refuses to let route config touch pseudo-headers or Host: routing already depends on them
// and the rewrite options (host_rewrite_*, prefix_rewrite) are the sanctioned way to change them.
bool isModifiable(std::string_view key) {
  return !key.empty() && key[0] != ':' && !equalsIgnoreCase(key, "host");
}

// Envoy's default %START_TIME% form: ISO 8601 in UTC with milliseconds.
std::string formatStartTime(stream_info::SystemTime time) {
  auto since_epoch = time.time_since_epoch();
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds);
  std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[80];
  std::snprintf(out, sizeof(out), "%.*s.%03dZ", static_cast<int>(n), buf,
                static_cast<int>(millis.count()));
  return out;
}

}  // namespace

StatusOr<HeaderFormatter> HeaderFormatter::create(std::string_view value, const std::string& path) {
  HeaderFormatter f;
  std::string literal;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%') {
      literal.push_back(value[i]);
      continue;
    }
    if (i + 1 < value.size() && value[i + 1] == '%') {  // "%%" is a literal percent
      literal.push_back('%');
      ++i;
      continue;
    }
    size_t end = value.find('%', i + 1);
    if (end == std::string_view::npos) {
      return Status::error(path + ": unterminated variable expression in '" + std::string(value) +
                           "'");
    }
    std::string_view name = value.substr(i + 1, end - i - 1);
    Var var;
    if (name == "DOWNSTREAM_REMOTE_ADDRESS") {
      var = Var::DownstreamRemoteAddress;
    } else if (name == "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT") {
      var = Var::DownstreamRemoteAddressWithoutPort;
    } else if (name == "UPSTREAM_REMOTE_ADDRESS") {
      var = Var::UpstreamRemoteAddress;
    } else if (name == "PROTOCOL") {
      var = Var::Protocol;
    } else if (name == "START_TIME") {
      var = Var::StartTime;
    } else {
      return Status::error("not supported by remora: " + path + ": %" + std::string(name) + "%");
    }
    if (!literal.empty()) f.segments_.push_back({Var::Literal, std::move(literal)});
    literal.clear();
    f.segments_.push_back({var, {}});
    i = end;
  }
  if (!literal.empty()) f.segments_.push_back({Var::Literal, std::move(literal)});
  return f;
}

std::string HeaderFormatter::format(const stream_info::StreamInfo& info) const {
  std::string out;
  for (const Segment& s : segments_) {
    switch (s.var) {
      case Var::Literal:
        out += s.literal;
        break;
      case Var::DownstreamRemoteAddress:
        if (info.downstream_remote_address.valid()) {
          out += info.downstream_remote_address.asString();
        }
        break;
      case Var::DownstreamRemoteAddressWithoutPort:
        if (info.downstream_remote_address.valid()) out += info.downstream_remote_address.ip();
        break;
      case Var::UpstreamRemoteAddress:
        // Empty until a host is chosen (request headers are finalized before that, as in Envoy).
        if (info.upstream_host && info.upstream_host->valid())
          out += info.upstream_host->asString();
        break;
      case Var::Protocol:
        if (info.protocol) out += http::protocolString(*info.protocol);
        break;
      case Var::StartTime:
        out += formatStartTime(info.start_time);
        break;
    }
  }
  return out;
}

StatusOr<HeaderMutations> HeaderMutations::create(const Options& to_add, const Names& to_remove,
                                                  const std::string& add_path,
                                                  const std::string& remove_path) {
  using Proto = envoy::config::core::v3::HeaderValueOption;
  HeaderMutations m;
  for (int i = 0; i < to_add.size(); ++i) {
    const Proto& option = to_add[i];
    const std::string path = add_path + "[" + std::to_string(i) + "]";
    const std::string& key = option.header().key();
    if (!isModifiable(key)) {
      return Status::error(path + ".header.key: ':'-prefixed or host headers may not be modified");
    }
    auto value = HeaderFormatter::create(option.header().value(), path + ".header.value");
    if (!value.ok()) return value.status();
    Action action = Action::AppendIfExistsOrAdd;
// The deprecated bool is still widely generated (older Istio): true appends, false overwrites.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const bool has_append = option.has_append();
    const bool append = has_append && option.append().value();
#pragma GCC diagnostic pop
    if (has_append) {
      action = append ? Action::AppendIfExistsOrAdd : Action::OverwriteIfExistsOrAdd;
    } else {
      switch (option.append_action()) {
        case Proto::ADD_IF_ABSENT:
          action = Action::AddIfAbsent;
          break;
        case Proto::OVERWRITE_IF_EXISTS_OR_ADD:
          action = Action::OverwriteIfExistsOrAdd;
          break;
        case Proto::OVERWRITE_IF_EXISTS:
          action = Action::OverwriteIfExists;
          break;
        default:
          break;
      }
    }
    m.to_add_.push_back(
        {toLower(key), std::move(value.value()), action, option.keep_empty_value()});
  }
  for (int i = 0; i < to_remove.size(); ++i) {
    if (!isModifiable(to_remove[i])) {
      return Status::error(remove_path + "[" + std::to_string(i) +
                           "]: ':'-prefixed or host headers may not be removed");
    }
    m.to_remove_.push_back(toLower(to_remove[i]));
  }
  return m;
}

void HeaderMutations::apply(http::HeaderMap& headers, const stream_info::StreamInfo& info) const {
  for (const std::string& name : to_remove_) headers.remove(name);
  for (const Add& add : to_add_) {
    std::string value = add.value.format(info);
    if (value.empty() && !add.keep_empty_value) continue;
    switch (add.action) {
      case Action::AppendIfExistsOrAdd:
        headers.add(add.key, value);
        break;
      case Action::AddIfAbsent:
        if (!headers.has(add.key)) headers.add(add.key, value);
        break;
      case Action::OverwriteIfExistsOrAdd:
        headers.set(add.key, value);
        break;
      case Action::OverwriteIfExists:
        if (headers.has(add.key)) headers.set(add.key, value);
        break;
    }
  }
}

}  // namespace remora::router
