#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "buffer/buffer.h"
#include "http/header_map.h"
#include "router/header_mutations.h"
#include "upstream/health_checker.h"

namespace remora::upstream {

// A check exchanged over an HTTP codec: the HTTP/1 client codec (codec1) or the HTTP/2 client
// codec, on a connection kept between checks unless reuse_connection is false or the response
// ends it. Subclasses say what to send and judge the complete response; http_health_check and
// grpc_health_check are the two.
class CodecHealthChecker : public HealthChecker {
 public:
  struct Response {
    http::ResponseHeaderMapPtr headers;
    std::string body;  // kept up to kMaxBody (a gRPC answer); an HTTP check discards it
    http::TrailerMapPtr trailers;
  };
  enum class Verdict { Healthy, Degraded, Failed, Retriable, ImmediateFail };

  CodecHealthChecker(event::Dispatcher& dispatcher, ClusterManager& cluster_manager,
                     ClusterConstSharedPtr cluster,
                     const envoy::config::core::v3::HealthCheck& proto, bool http2);

 protected:
  virtual void buildRequest(http::RequestHeaderMap& headers, std::string& body) const = 0;
  virtual Verdict judge(const Response& response) const = 0;
  virtual bool keepsBody() const { return false; }

 private:
  class CodecSession;
  SessionPtr makeSession(HostConstSharedPtr host, bool initially_healthy) override;

  const bool http2_;
};

// http_health_check (Envoy's HttpHealthCheckerImpl): GET `path` with Host `host` (default: the
// cluster name), `user-agent: Envoy/HC` and request_headers_to_add. Healthy when the status is in
// expected_statuses (default 200), degraded with x-envoy-degraded; a status in retriable_statuses
// counts toward unhealthy_threshold, any other fails the host at once, and an answer carrying
// x-envoy-immediate-health-check-fail also excludes it (EXCLUDED_VIA_IMMEDIATE_HC_FAIL).
class HttpHealthChecker : public CodecHealthChecker {
 public:
  HttpHealthChecker(event::Dispatcher& dispatcher, ClusterManager& cluster_manager,
                    ClusterConstSharedPtr cluster,
                    const envoy::config::core::v3::HealthCheck& proto);

 protected:
  void buildRequest(http::RequestHeaderMap& headers, std::string& body) const override;
  Verdict judge(const Response& response) const override;

 private:
  using Ranges = std::vector<std::pair<int64_t, int64_t>>;  // [start, end)
  static bool inRanges(const Ranges& ranges, uint64_t code);

  std::string path_;
  std::string host_;
  router::HeaderMutations headers_to_add_;
  Ranges expected_;
  Ranges retriable_;
};

}  // namespace remora::upstream
