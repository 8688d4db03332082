#pragma once

// The discovery server's core, independent of gRPC: the current model, every connected proxy's
// subscriptions, versions, nonces and ACK/NACK state, and pushes. The gRPC streams (ads_server.h)
// hand it requests and give it a way to send; debug pages (monitoring.h) read it.
//
// Pushes: a model change is pushed after the config has been quiet for the debounce interval
// (100 ms, at most 1 s after the first change); a change to endpoints only is pushed at once and
// only as EDS. Resources come from the ResourceCache (generated once per model, type and scope).
// State-of-the-World streams get every subscribed resource of a CDS or LDS type whose content
// changed, and for EDS and RDS only the resources that changed since the set the stream was last
// sent (xDS lets a SotW server omit unchanged resources of those types); Delta streams get only
// the resources that changed and the names removed.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "envoy/service/discovery/v3/discovery.pb.h"
#include "pilot/config_source.h"
#include "pilot/generator.h"
#include "pilot/metrics.h"
#include "pilot/model.h"
#include "pilot/name_set.h"
#include "pilot/proxy.h"
#include "pilot/resource_cache.h"

namespace remora::pilot {

// How the hub reaches one gRPC stream. Calls come with the hub's lock held; they must not block.
// The stream tells the hub of every completed (or failed) write with XdsHub::onWriteDone, in order,
// without holding its own lock.
class XdsStream {
 public:
  virtual ~XdsStream() = default;
  virtual void send(envoy::service::discovery::v3::DiscoveryResponse response) = 0;
  virtual void send(envoy::service::discovery::v3::DeltaDiscoveryResponse response) = 0;
};

// One resource type's state on one stream.
struct TypeState {
  bool wildcard = false;
  NameSet::Ptr names = NameInterner::none();
  std::string sent_version, sent_nonce, acked_version, acked_nonce;
  size_t sent_hash = 0;   // SotW: hash of the last full response's resources; 0 after a partial
  uint64_t sent_set = 0;  // the ResourceSet the proxy was last brought up to date with
  std::map<std::string, std::string> delivered;  // Delta: resource name → version the proxy has
  uint64_t acks = 0, nacks = 0;
  std::string last_nack;  // error_detail.message of the latest NACK
  std::optional<std::chrono::steady_clock::time_point> pushed_at;  // awaiting an ACK since
};

struct Connection {
  std::string id;  // unique per stream: "<node id>-<n>"
  Proxy proxy;
  bool delta = false;
  bool identified = false;
  std::chrono::system_clock::time_point connected_at;
  std::map<std::string, TypeState> types;  // by type URL
  uint64_t next_nonce = 1;
  std::deque<bool> writes;               // responses sent, not yet written: large or not
  std::map<std::string, bool> deferred;  // type URL → full: SotW pushes waiting for the throttle
};

class XdsHub {
 public:
  explicit XdsHub(std::chrono::milliseconds debounce = std::chrono::milliseconds(100));
  ~XdsHub();

  // A source's new state. The first call sets the model without pushing.
  void onSourceChange(SourceSnapshot snapshot);

  void onRequest(XdsStream* stream, const envoy::service::discovery::v3::DiscoveryRequest& request);
  void onRequest(XdsStream* stream,
                 const envoy::service::discovery::v3::DeltaDiscoveryRequest& request);
  void onClose(XdsStream* stream);
  // A response handed to `stream` was written (or the write failed).
  void onWriteDone(XdsStream* stream);

  ModelPtr model() const;
  // Debug pages (JSON) and Prometheus metrics.
  std::string syncz() const;
  std::string configDump(const std::string& proxy_id) const;
  std::string registryz() const;
  std::string metrics() const;
  size_t connectionCount() const;

 private:
  void debounceLoop();
  void pushAll(bool endpoints_only);
  void push(XdsStream* stream, Connection& c, const std::string& type_url);
  // `full`: send every subscribed resource even if the proxy was sent them (a new subscription).
  void pushSotw(XdsStream* stream, Connection& c, const std::string& type_url, TypeState& ts,
                bool full = false);
  void pushDelta(XdsStream* stream, Connection& c, const std::string& type_url, TypeState& ts);
  // Records an ACK or NACK carried by a request whose nonce is the last one sent; false when the
  // nonce is stale (the request is then ignored, as xDS says).
  // Sends `response`, counting it against the large-push throttle when it is large.
  template <typename R>
  void sendCounted(XdsStream* stream, Connection& c, R response, bool large);
  // Runs deferred pushes while the throttle has room.
  void runDeferred();
  bool recordAck(Connection& c, TypeState& ts, const std::string& type_url,
                 const std::string& nonce, const std::string& version,
                 const google::rpc::Status* error);

  const std::chrono::milliseconds debounce_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  ModelPtr model_;
  uint64_t model_version_ = 0;
  ResourceCache cache_;
  NameInterner names_;
  // Large responses (initial and full pushes) written at once: beyond this, pushes wait for a
  // write to finish (as Istio's PILOT_PUSH_THROTTLE), which bounds the memory of responses queued
  // for slow readers when thousands of proxies connect together.
  size_t large_in_flight_ = 0;
  std::deque<XdsStream*> deferred_streams_;
  std::map<XdsStream*, Connection> connections_;
  uint64_t next_connection_ = 1;
  std::optional<std::chrono::steady_clock::time_point> pending_since_, last_change_;
  bool stopping_ = false;
  PilotMetrics metrics_;
  std::thread debounce_thread_;
};

}  // namespace remora::pilot
