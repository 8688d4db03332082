#include "upstream/tcp_health_checker.h"

#include "net/connection_impl.h"
#include "upstream/upstream_connection.h"

namespace remora::upstream {

std::string payloadBytes(const envoy::config::core::v3::HealthCheck::Payload& payload) {
  if (payload.has_binary()) return payload.binary();
  const std::string& hex = payload.text();
  std::string out;
  out.reserve(hex.size() / 2);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 0;
  };
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  }
  return out;
}

bool payloadsMatch(std::string_view data, const std::vector<std::string>& expected) {
  size_t at = 0;
  for (const auto& block : expected) {
    size_t found = data.find(block, at);
    if (found == std::string_view::npos) return false;
    at = found + block.size();
  }
  return true;
}

class TcpHealthChecker::TcpSession final : public HealthChecker::Session,
                                           public net::ConnectionCallbacks,
                                           public net::ReadFilter {
 public:
  TcpSession(TcpHealthChecker& parent, HostConstSharedPtr host, bool initially_healthy)
      : Session(parent, std::move(host), initially_healthy), tcp_(parent) {}
  ~TcpSession() override { closeConnection(); }

  void onInterval() override {
    received_.clear();
    if (connection_ == nullptr) {
      std::string error;
      connection_ = createHostConnection(tcp_.dispatcher_, *host_, *tcp_.cluster_, error);
      if (connection_ == nullptr) {
        handleFailure(FailureType::Network);
        return;
      }
      connection_->addConnectionCallbacks(*this);
      connection_->addReadFilter(std::shared_ptr<net::ReadFilter>(std::shared_ptr<void>(), this));
      connection_->initializeReadFilters();
    }
    if (!tcp_.send_.empty()) {
      buffer::Buffer data;
      data.add(tcp_.send_);
      connection_->write(data, false);
    }
    // On a reused connection with nothing to receive the check has already passed.
    if (connected_ && tcp_.receive_.empty()) onPassed();
  }
  void onTimeout() override { closeConnection(); }

  void onEvent(net::ConnectionEvent event) override {
    if (event == net::ConnectionEvent::Connected) {
      connected_ = true;
      if (tcp_.receive_.empty()) onPassed();
      return;
    }
    // Closed: fails the check in flight, if any (a check in flight needs this connection).
    releaseConnection();
    handleFailure(FailureType::Network);
  }

  void initializeReadFilterCallbacks(net::ReadFilterCallbacks&) override {}
  net::FilterStatus onData(buffer::Buffer& data, bool) override {
    received_ += data.toString();
    data.drain(data.length());
    if (!tcp_.receive_.empty() && payloadsMatch(received_, tcp_.receive_)) {
      received_.clear();
      onPassed();
    }
    return net::FilterStatus::StopIteration;
  }

 private:
  void onPassed() {
    handleSuccess();
    if (!tcp_.timing_.reuse_connection) closeConnection();
  }
  // Our own close: the connection's close event finds no connection and no check in flight.
  void closeConnection() {
    if (connection_ == nullptr) return;
    auto* connection = connection_.get();
    connection->removeConnectionCallbacks(*this);
    releaseConnection();
    connection->close(net::ConnectionCloseType::NoFlush);
  }
  // Deferred: we may be inside the connection's own callback.
  void releaseConnection() {
    connected_ = false;
    if (connection_ != nullptr) tcp_.dispatcher_.deferredDelete(std::move(connection_));
  }

  TcpHealthChecker& tcp_;
  std::unique_ptr<net::ConnectionImpl> connection_;
  bool connected_ = false;
  std::string received_;
};

TcpHealthChecker::TcpHealthChecker(event::Dispatcher& dispatcher, ClusterManager& cluster_manager,
                                   ClusterConstSharedPtr cluster,
                                   const envoy::config::core::v3::HealthCheck& proto)
    : HealthChecker(dispatcher, cluster_manager, std::move(cluster), proto),
      send_(payloadBytes(proto.tcp_health_check().send())) {
  for (const auto& payload : proto.tcp_health_check().receive()) {
    receive_.push_back(payloadBytes(payload));
  }
}

HealthChecker::SessionPtr TcpHealthChecker::makeSession(HostConstSharedPtr host,
                                                        bool initially_healthy) {
  return std::make_unique<TcpSession>(*this, std::move(host), initially_healthy);
}

}  // namespace remora::upstream
