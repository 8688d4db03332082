#pragma once

// The ADS gRPC server (libgrpc++, callback API): envoy.service.discovery.v3.
// AggregatedDiscoveryService, both StreamAggregatedResources (State-of-the-World) and
// DeltaAggregatedResources. Each stream is a reactor with a write queue; requests go to the XdsHub,
// which decides what to send.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "pilot/xds_hub.h"

namespace remora::pilot {

class AdsServer {
 public:
  explicit AdsServer(XdsHub& hub);
  ~AdsServer();

  // Listens on `address` ("127.0.0.1:15010"); the bound port (useful with port 0), or 0 on error.
  int start(const std::string& address);
  void shutdown();

 private:
  class Service;
  XdsHub& hub_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace remora::pilot
