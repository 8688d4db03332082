#pragma once

#include <string>

#include "upstream/http_health_checker.h"

namespace remora::upstream {

// grpc_health_check (Envoy's GrpcHealthCheckerImpl): grpc.health.v1.Health/Check over HTTP/2
// with HealthCheckRequest{service: service_name} and :authority `authority` (default: the cluster
// name). Healthy when the answer is status 200, a HealthCheckResponse with status SERVING and
// grpc-status 0; anything else fails the host.
class GrpcHealthChecker : public CodecHealthChecker {
 public:
  GrpcHealthChecker(event::Dispatcher& dispatcher, ClusterManager& cluster_manager,
                    ClusterConstSharedPtr cluster,
                    const envoy::config::core::v3::HealthCheck& proto);

  // The length-prefixed gRPC message carrying HealthCheckRequest{service}.
  static std::string encodeRequest(std::string_view service);
  // The status field of the HealthCheckResponse in a gRPC response body (one message); -1 when
  // the body is not exactly one well-formed message.
  static int decodeResponseStatus(std::string_view body);

 protected:
  void buildRequest(http::RequestHeaderMap& headers, std::string& body) const override;
  Verdict judge(const Response& response) const override;
  bool keepsBody() const override { return true; }

 private:
  std::string service_name_;
  std::string authority_;
  router::HeaderMutations initial_metadata_;
};

}  // namespace remora::upstream
