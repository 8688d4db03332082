#pragma once

#include <google/protobuf/message.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "buffer/buffer.h"
#include "common/status.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/core/v3/grpc_service.pb.h"
#include "event/dispatcher.h"
#include "http/codec.h"
#include "net/connection_impl.h"
#include "upstream/cluster.h"

namespace remora::upstream {
class ClusterManager;
}

namespace remora::grpc {

// What a streaming call reports (Envoy's Grpc::RawAsyncStreamCallbacks). Every callback runs on
// the dispatcher the stream was started on.
class AsyncStreamCallbacks {
 public:
  virtual ~AsyncStreamCallbacks() = default;
  // The server answered with its response headers: the stream is established.
  virtual void onReceiveInitialMetadata() = 0;
  // One whole message (its serialized bytes, without the 5-byte gRPC frame header).
  virtual void onReceiveMessage(std::string_view message) = 0;
  // The call is over: the grpc-status and grpc-message of the trailers (or of a trailers-only
  // answer), or UNAVAILABLE for a connection that failed or closed and a stream reset, INTERNAL
  // for an answer that is not gRPC. Called once, and never after the owner destroyed the stream;
  // the owner may destroy the stream from inside it.
  virtual void onRemoteClose(uint32_t grpc_status, const std::string& message) = 0;
};

// One streaming call in progress. Destroying it resets the stream (if still open) and closes its
// connection without calling back.
class AsyncStream {
 public:
  virtual ~AsyncStream() = default;
  // Sends one message; messages sent before the connection is up wait in its write buffer.
  virtual void sendMessage(const google::protobuf::Message& message) = 0;
};
using AsyncStreamPtr = std::unique_ptr<AsyncStream>;

// A gRPC client for one envoy_grpc service (Envoy's AsyncClientImpl): calls go to a host of a
// static HTTP/2 cluster over remora's own HTTP/2 client codec, on the main thread's event loop, one
// connection per stream (the one long-lived stream xDS needs). Hosts are tried in turn, one per
// started stream, so a reconnect after a failure moves on to the next.
class AsyncClient {
 public:
  // Checks `service` against the bootstrap's static clusters (the client may be made before
  // they are built): envoy_grpc naming one whose upstream protocol is HTTP/2. `google_grpc` is
  // not supported. Streams find the cluster in `clusters` when they start.
  static StatusOr<std::unique_ptr<AsyncClient>> create(
      const envoy::config::core::v3::GrpcService& service,
      const google::protobuf::RepeatedPtrField<envoy::config::cluster::v3::Cluster>&
          static_clusters,
      upstream::ClusterManager& clusters, event::Dispatcher& dispatcher, const std::string& path);

  // Starts a streaming call to `method_path` ("/package.Service/Method"). Never null: a failure to
  // connect is reported through callbacks.onRemoteClose on a later loop iteration.
  AsyncStreamPtr startStream(std::string_view method_path, AsyncStreamCallbacks& callbacks);

  const std::string& clusterName() const { return cluster_name_; }

 private:
  AsyncClient(event::Dispatcher& dispatcher, upstream::ClusterManager& clusters,
              std::string cluster_name, std::string authority);

  event::Dispatcher& dispatcher_;
  upstream::ClusterManager& clusters_;
  const std::string cluster_name_;
  const std::string authority_;
  size_t next_host_ = 0;
};

// gRPC's length-prefixed framing on the receiving side: feeds bytes in arbitrary chunks, yields
// whole messages. Compressed messages and messages over `max_message_bytes` are errors.
class GrpcMessageDecoder {
 public:
  explicit GrpcMessageDecoder(size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}
  // Appends `data` (drained) and moves each message it completes to `messages`.
  Status decode(buffer::Buffer& data, std::vector<std::string>& messages);
  // True when no partial message is held.
  bool empty() const { return pending_.empty(); }

 private:
  const size_t max_message_bytes_;
  std::string pending_;
};

// One message framed for the wire: flag 0 (uncompressed), the big-endian length, the bytes.
std::string frameGrpcMessage(const google::protobuf::Message& message);

}  // namespace remora::grpc
