#pragma once

#include <google/protobuf/message.h>

#include <memory>

#include "access_log/formatter.h"
#include "common/status.h"
#include "http/header_map.h"
#include "stream_info/stream_info.h"

namespace remora::access_log {

// Decides whether one request is logged (Envoy's AccessLogFilter). Immutable once built.
class Filter {
 public:
  virtual ~Filter() = default;
  // True when the request should be logged.
  virtual bool evaluate(const FormatContext& context) const = 0;
};
using FilterPtr = std::unique_ptr<const Filter>;

// One configured access log. Built on the main thread, shared read-only by every worker.
class Instance {
 public:
  virtual ~Instance() = default;
  // Logs one finished request (or connection) when the filter passes. Any header map may be
  // null. Thread-safe: workers call it concurrently.
  virtual void log(const http::HeaderMap* request_headers, const http::HeaderMap* response_headers,
                   const http::HeaderMap* response_trailers,
                   const stream_info::StreamInfo& stream_info) const = 0;
};
using InstanceSharedPtr = std::shared_ptr<const Instance>;

// An access logger extension (envoy.access_loggers.*), registered in config::ExtensionRegistry
// under ExtensionCategory::AccessLogger; the registry's opaque factory points to one of these.
class AccessLogInstanceFactory {
 public:
  virtual ~AccessLogInstanceFactory() = default;
  // Builds the logger from its unpacked typed_config; `filter` may be null (log everything).
  virtual StatusOr<InstanceSharedPtr> create(const google::protobuf::Message& config,
                                             FilterPtr filter) const = 0;
};

}  // namespace remora::access_log
