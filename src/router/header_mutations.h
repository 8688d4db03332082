#pragma once

#include <google/protobuf/repeated_ptr_field.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "envoy/config/core/v3/base.pb.h"
#include "http/header_map.h"
#include "stream_info/stream_info.h"

namespace remora::router {

// A header value with Envoy's %VAR% substitution, parsed once at load. Only the variables remora
// can fill are accepted; anything else is refused at load rather than sent as literal text.
class HeaderFormatter {
 public:
  // `path` names the value field in errors.
  static StatusOr<HeaderFormatter> create(std::string_view value, const std::string& path);
  std::string format(const stream_info::StreamInfo& info) const;

 private:
  enum class Var {
    Literal,
    DownstreamRemoteAddress,
    DownstreamRemoteAddressWithoutPort,
    UpstreamRemoteAddress,
    Protocol,
    StartTime,
  };
  struct Segment {
    Var var;
    std::string literal;
  };
  std::vector<Segment> segments_;
};

// One level's (route, virtual host or route configuration) request- or response-header
// mutations. Removals run before additions, as in Envoy's HeaderParser, so a level can replace
// a header by removing and adding it.
class HeaderMutations {
 public:
  using Options = google::protobuf::RepeatedPtrField<envoy::config::core::v3::HeaderValueOption>;
  using Names = google::protobuf::RepeatedPtrField<std::string>;

  // `add_path` / `remove_path` name the two fields ("virtual_hosts[0].request_headers_to_add").
  static StatusOr<HeaderMutations> create(const Options& to_add, const Names& to_remove,
                                          const std::string& add_path,
                                          const std::string& remove_path);
  void apply(http::HeaderMap& headers, const stream_info::StreamInfo& info) const;
  bool empty() const { return to_add_.empty() && to_remove_.empty(); }

 private:
  enum class Action { AppendIfExistsOrAdd, AddIfAbsent, OverwriteIfExistsOrAdd, OverwriteIfExists };
  struct Add {
    std::string key;
    HeaderFormatter value;
    Action action;
    bool keep_empty_value;
  };
  std::vector<Add> to_add_;
  std::vector<std::string> to_remove_;
};

}  // namespace remora::router
