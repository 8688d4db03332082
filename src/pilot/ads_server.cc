#include "pilot/ads_server.h"

#include <deque>
#include <mutex>

#include "envoy/service/discovery/v3/ads.grpc.pb.h"

namespace remora::pilot {
namespace {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

// One ADS stream: reads requests one at a time and hands them to the hub; writes the hub's
// responses in order, one outstanding write at a time as gRPC requires.
template <typename Request, typename Response>
class AdsStream : public grpc::ServerBidiReactor<Request, Response>, public XdsStream {
 public:
  explicit AdsStream(XdsHub& hub) : hub_(hub) { this->StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side or went away
      finish();
      return;
    }
    hub_.onRequest(this, request_);
    this->StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    hub_.onWriteDone(this);  // before taking mu_: the hub may send to this stream
    std::lock_guard<std::recursive_mutex> lock(mu_);
    queue_.pop_front();
    writing_ = false;
    if (!ok) finishing_ = true;
    if (finishing_) {
      finishLocked();
      return;
    }
    writeNextLocked();
  }

  void OnDone() override {
    hub_.onClose(this);
    delete this;
  }

  void send(DiscoveryResponse response) override { enqueue(std::move(response)); }
  void send(DeltaDiscoveryResponse response) override { enqueue(std::move(response)); }

 private:
  template <typename R>
  void enqueue(R response) {
    if constexpr (std::is_same_v<R, Response>) {
      std::lock_guard<std::recursive_mutex> lock(mu_);
      if (finishing_) return;
      queue_.push_back(std::move(response));
      writeNextLocked();
    }
  }

  void writeNextLocked() {
    if (writing_ || queue_.empty()) return;
    writing_ = true;
    this->StartWrite(&queue_.front());
  }

  void finish() {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    finishing_ = true;
    if (!writing_) finishLocked();  // else OnWriteDone finishes
  }

  void finishLocked() {
    if (finished_) return;
    finished_ = true;
    this->Finish(grpc::Status::OK);
  }

  XdsHub& hub_;
  Request request_;
  std::recursive_mutex mu_;
  std::deque<Response> queue_;
  bool writing_ = false, finishing_ = false, finished_ = false;
};

}  // namespace

class AdsServer::Service
    : public envoy::service::discovery::v3::AggregatedDiscoveryService::CallbackService {
 public:
  explicit Service(XdsHub& hub) : hub_(hub) {}

  grpc::ServerBidiReactor<DiscoveryRequest, DiscoveryResponse>* StreamAggregatedResources(
      grpc::CallbackServerContext*) override {
    return new AdsStream<DiscoveryRequest, DiscoveryResponse>(hub_);
  }

  grpc::ServerBidiReactor<DeltaDiscoveryRequest, DeltaDiscoveryResponse>* DeltaAggregatedResources(
      grpc::CallbackServerContext*) override {
    return new AdsStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(hub_);
  }

 private:
  XdsHub& hub_;
};

AdsServer::AdsServer(XdsHub& hub) : hub_(hub), service_(std::make_unique<Service>(hub)) {}

AdsServer::~AdsServer() { shutdown(); }

int AdsServer::start(const std::string& address) {
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service_.get());
  // xDS responses for a large mesh exceed gRPC's 4 MiB default.
  builder.SetMaxSendMessageSize(64 << 20);
  builder.SetMaxReceiveMessageSize(16 << 20);
  // gRPC's memory quota, when it sees "pressure", drops new connections and cancels streams at
  // random; with thousands of proxies syncing at once the buffered responses look like
  // pressure, and the proxies reconnect into the same storm. The hub's push throttle bounds that
  // memory instead.
  grpc::ResourceQuota quota("remora-pilot");
  quota.Resize(size_t{64} << 30);
  builder.SetResourceQuota(quota);
  server_ = builder.BuildAndStart();
  return server_ ? port : 0;
}

void AdsServer::shutdown() {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_->Wait();
  server_.reset();
}

}  // namespace remora::pilot
