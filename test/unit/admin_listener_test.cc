#include "admin/admin_listener.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "admin/http_response.h"
#include "admin_fake_server.h"

namespace remora::admin {
namespace {

// Sends `request` over a blocking loopback socket and reads until the server closes.
std::string exchange(const net::Address& address, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, address.sockAddr(), address.sockAddrLen()) != 0) {
    ::close(fd);
    return "connect failed";
  }
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

class AdminListenerTest : public testing::Test {
 protected:
  void SetUp() override {
    auto address = net::Address::parse("127.0.0.1", 0);
    ASSERT_TRUE(address.ok());
    auto listener = AdminListener::create(server_, address.value());
    ASSERT_TRUE(listener.ok()) << listener.status().message();
    listener_ = std::move(listener).value();
  }

  // Runs the server's loop while a client thread does the exchange.
  std::string run(const std::string& request) {
    std::string response;
    auto& dispatcher = server_.dispatcher();
    auto timeout = dispatcher.createTimer([&] { dispatcher.exit(); });
    timeout->enableTimer(std::chrono::seconds(20));
    std::thread client([&] {
      response = exchange(listener_->localAddress(), request);
      dispatcher.post([&] { dispatcher.exit(); });
    });
    dispatcher.run();
    client.join();
    return response;
  }

  FakeServer server_;
  std::unique_ptr<AdminListener> listener_;
};

TEST_F(AdminListenerTest, PipelinedRequestsAnsweredInOrder) {
  std::string response =
      run("GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"
          "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
          "POST /healthcheck/fail HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
          "POST /healthcheck/ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
          "2\r\nab\r\n0\r\n\r\n"
          "HEAD /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
          "GET /ready HTTP/1.1\r\nHost: x\r\n\r\n");  // after close: never answered
  const std::string ready =
      "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=UTF-8\r\n"
      "cache-control: no-cache, max-age=0\r\nx-content-type-options: nosniff\r\n"
      "content-length: 5\r\n\r\nLIVE\n";
  ASSERT_EQ(response.rfind(ready, 0), 0u) << response;
  size_t p404 = response.find("HTTP/1.1 404 Not Found\r\n");
  size_t pfail = response.find("HTTP/1.1 200 OK", p404);
  ASSERT_NE(p404, std::string::npos);
  ASSERT_NE(pfail, std::string::npos);
  EXPECT_FALSE(server_.hc_failed_);  // fail then ok, in order
  const std::string head_reply =
      "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=UTF-8\r\n"
      "cache-control: no-cache, max-age=0\r\nx-content-type-options: nosniff\r\n"
      "content-length: 5\r\nconnection: close\r\n\r\n";
  ASSERT_GE(response.size(), head_reply.size());
  EXPECT_EQ(response.substr(response.size() - head_reply.size()), head_reply);
}

TEST_F(AdminListenerTest, MalformedRequestGets400AndClose) {
  std::string response = run("GET /ready HTTP/1.1\nHost: x\n\n");
  EXPECT_EQ(response.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("connection: close\r\n"), std::string::npos);
  EXPECT_NE(response.find("\r\n\r\nbare LF\n"), std::string::npos);
}

TEST_F(AdminListenerTest, OversizedHeadGets431) {
  std::string response =
      run("GET /ready HTTP/1.1\r\nHost: x\r\nX: " + std::string(70 * 1024, 'a') + "\r\n\r\n");
  EXPECT_EQ(response.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u);
}

TEST_F(AdminListenerTest, OversizedBodyGets413) {
  std::string response =
      run("POST /healthcheck/fail HTTP/1.1\r\nHost: x\r\n"
          "Content-Length: 99999999\r\n\r\n");
  EXPECT_EQ(response.rfind("HTTP/1.1 413 Payload Too Large\r\n", 0), 0u) << response;
  EXPECT_FALSE(server_.hc_failed_);
}

TEST_F(AdminListenerTest, QuitQuitQuitShutsDownAfterReply) {
  std::string response = run("POST /quitquitquit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(response.find("\r\n\r\nOK\n"), std::string::npos) << response;
  EXPECT_EQ(server_.shutdowns_, 1);
}

TEST_F(AdminListenerTest, Http10ClosesWithoutKeepAlive) {
  std::string response = run("GET /ready HTTP/1.0\r\n\r\n");
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("connection: close\r\n"), std::string::npos);
}

TEST(AdminListenerAddressTest, FromProto) {
  envoy::config::core::v3::Address proto;
  proto.mutable_socket_address()->set_address("127.0.0.1");
  proto.mutable_socket_address()->set_port_value(15000);
  auto a = AdminListener::addressFromProto(proto);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value().asString(), "127.0.0.1:15000");
  proto.mutable_socket_address()->set_address("localhost");
  EXPECT_FALSE(AdminListener::addressFromProto(proto).ok());
}

}  // namespace
}  // namespace remora::admin
