#include "admin/admin_listener.h"

#include <unistd.h>

#include <string>

#include "admin/http_response.h"
#include "common/logger.h"
#include "http/http1/chunked_decoder.h"
#include "http/http1/request_parser.h"
#include "net/connection_impl.h"
#include "net/socket.h"
#include "net/transport_socket.h"

namespace remora::admin {

namespace {
// Responses past this pause reading until the client drains them, so a pipelining client
// cannot make the admin buffer unbounded output.
constexpr uint32_t kConnectionBufferLimit = 1024 * 1024;
constexpr std::chrono::milliseconds kLingerTimeout{2000};

struct DiscardBody : http::http1::ChunkedDecoder::Callbacks {
  void onBodyData(std::string_view) override {}
};
}  // namespace

// One admin connection: a read filter that parses requests in order and answers each before
// looking at the next, so pipelined responses keep request order by construction.
class AdminListener::Session : public net::ReadFilter, public net::ConnectionCallbacks {
 public:
  Session(AdminListener& parent, const AdminListenerConfig& config)
      : parent_(parent),
        config_(config),
        parser_({config.max_request_head_bytes, config.max_request_headers}) {}

  void initializeReadFilterCallbacks(net::ReadFilterCallbacks& callbacks) override {
    connection_ = &callbacks.connection();
  }

  net::FilterStatus onData(buffer::Buffer& data, bool) override {
    // The parser wants contiguous bytes; admin requests are small, so one copy is cheap.
    if (state_ != State::Done) {
      data.forEachSlice([this](std::string_view slice) { pending_.append(slice); });
    }
    data.drain(data.length());
    processPending();
    return net::FilterStatus::StopIteration;
  }

  void onEvent(net::ConnectionEvent event) override {
    if (event == net::ConnectionEvent::RemoteClose || event == net::ConnectionEvent::LocalClose) {
      closed_ = true;
      parent_.onSessionClosed(connection_->id());
    }
  }
  void onAboveWriteBufferHighWatermark() override {
    if (paused_) return;
    paused_ = true;
    connection_->readDisable(true);
  }
  void onBelowWriteBufferLowWatermark() override {
    if (!paused_) return;
    paused_ = false;
    connection_->readDisable(false);
    processPending();
  }

 private:
  enum class State { Head, ContentLengthBody, ChunkedBody, Done };

  void processPending() {
    while (!closed_ && !paused_ && state_ != State::Done) {
      if (state_ == State::Head) {
        http::http1::ParseResult r = parser_.parse(pending_);
        if (r.status == http::http1::ParseStatus::NeedMore) return;
        if (r.status == http::http1::ParseStatus::Error) return sendError(r.code, r.reason);
        const auto& head = parser_.head();
        method_ = head.method;
        target_ = head.target;
        keep_alive_ = head.keep_alive;
        if (head.chunked) {
          state_ = State::ChunkedBody;
        } else {
          body_remaining_ = head.content_length.value_or(0);
          if (body_remaining_ > config_.max_request_body_bytes) {
            return sendError(413, "request body too large");
          }
          state_ = State::ContentLengthBody;
        }
        pending_.erase(0, r.consumed);  // the head is copied out; its bytes can go
        parser_.reset();
      }
      if (state_ == State::ContentLengthBody) {
        const size_t take =
            static_cast<size_t>(std::min<uint64_t>(body_remaining_, pending_.size()));
        pending_.erase(0, take);
        body_remaining_ -= take;
        if (body_remaining_ > 0) return;
      } else if (state_ == State::ChunkedBody) {
        DiscardBody discard;
        http::http1::ParseResult r = chunked_.decode(pending_, discard);
        if (r.status == http::http1::ParseStatus::Error) return sendError(r.code, r.reason);
        if (chunked_.bodyBytes() > config_.max_request_body_bytes) {
          return sendError(413, "request body too large");
        }
        pending_.erase(0, r.consumed);
        if (r.status == http::http1::ParseStatus::NeedMore) return;
        chunked_.reset();
      }
      respond();
    }
  }

  void respond() {
    AdminResponse response = parent_.handlers_.handle(method_, target_);
    buffer::Buffer out;
    encodeResponse(response, method_ == "HEAD", !keep_alive_, out);
    if (!keep_alive_) {
      finish(out);
    } else {
      connection_->write(out, false);
      state_ = State::Head;
    }
    if (response.after_response) response.after_response();
  }

  void sendError(uint16_t code, std::string_view reason) {
    AdminResponse response;
    response.code = code;
    response.body = std::string(reason) + "\n";
    buffer::Buffer out;
    encodeResponse(response, false, true, out);
    finish(out);
  }

  // Writes the last response and half-closes. Closing outright while the client is still sending
  // would make the kernel answer with RST, which can destroy the response before the client reads
  // it; so, as nginx's lingering close, further input is read and dropped until the client closes
  // or kLingerTimeout passes.
  void finish(buffer::Buffer& out) {
    state_ = State::Done;
    pending_.clear();
    connection_->write(out, true);
    linger_timer_ = connection_->dispatcher().createTimer(
        [this] { connection_->close(net::ConnectionCloseType::NoFlush); });
    linger_timer_->enableTimer(kLingerTimeout);
  }

  AdminListener& parent_;
  const AdminListenerConfig& config_;
  net::Connection* connection_ = nullptr;
  http::http1::RequestParser parser_;
  http::http1::ChunkedDecoder chunked_;
  std::string pending_;
  State state_ = State::Head;
  std::string method_;
  std::string target_;
  bool keep_alive_ = true;
  uint64_t body_remaining_ = 0;
  bool paused_ = false;
  bool closed_ = false;
  event::TimerPtr linger_timer_;
};

StatusOr<net::Address> AdminListener::addressFromProto(
    const envoy::config::core::v3::Address& address) {
  if (!address.has_socket_address()) {
    return Status::error("admin.address: only socket_address is supported by remora");
  }
  const auto& sa = address.socket_address();
  auto parsed = net::Address::parse(sa.address(), static_cast<uint16_t>(sa.port_value()));
  if (!parsed.ok()) return parsed.status().withPrefix("admin.address.socket_address");
  return parsed;
}

StatusOr<std::unique_ptr<AdminListener>> AdminListener::create(server::Instance& server,
                                                               const net::Address& address,
                                                               AdminListenerConfig config) {
  auto fd = net::createListenSocket(address, /*reuse_port=*/false);
  if (!fd.ok()) return fd.status().withPrefix("admin listener " + address.asString());
  return std::unique_ptr<AdminListener>(
      new AdminListener(server, fd.value(), net::localAddress(fd.value()), config));
}

AdminListener::AdminListener(server::Instance& server, int fd, const net::Address& local,
                             AdminListenerConfig config)
    : server_(server), config_(config), handlers_(server), listen_fd_(fd), local_address_(local) {
  listener_ = std::make_unique<net::TcpListener>(server_.dispatcher(), listen_fd_,
                                                 [this](int accepted) { onAccept(accepted); });
  LOG_INFO("admin address: {}", local_address_.asString());
}

AdminListener::~AdminListener() {
  listener_.reset();
  // Sessions report their close back to us; take the map first so that is a no-op.
  auto connections = std::move(connections_);
  connections_.clear();
  for (auto& [id, connection] : connections) {
    connection->close(net::ConnectionCloseType::NoFlush);
  }
  ::close(listen_fd_);
}

void AdminListener::onAccept(int fd) {
  net::setNoDelay(fd);
  auto connection = std::make_unique<net::ConnectionImpl>(
      server_.dispatcher(), fd, std::make_unique<net::RawBufferSocket>(), /*connected=*/true);
  auto session = std::make_shared<Session>(*this, config_);
  connection->addConnectionCallbacks(*session);
  connection->setBufferLimits(kConnectionBufferLimit);
  connection->addReadFilter(session);
  connection->initializeReadFilters();
  const uint64_t id = connection->id();
  connections_.emplace(id, std::move(connection));
}

void AdminListener::onSessionClosed(uint64_t id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  // The connection may be on the stack (closing from its own callback): delete it later.
  server_.dispatcher().deferredDelete(std::move(it->second));
  connections_.erase(it);
}

}  // namespace remora::admin
