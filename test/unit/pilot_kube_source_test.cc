// remora-pilot's Kubernetes API source without a server: the store's event and relist logic
// (diffing by resourceVersion, malformed objects keeping their last good version, EndpointSlices
// hiding their service's Endpoints), the chunked decoder, URLs and kubeconfig files.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "pilot/http_client.h"
#include "pilot/kube_config.h"
#include "pilot/kube_store.h"

namespace remora::pilot {
namespace {

const KubeResource kServices{"", "v1", "services", "Service"};
const KubeResource kEndpoints{"", "v1", "endpoints", "Endpoints"};
const KubeResource kSlices{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"};
const KubeResource kVirtualServices{"networking.istio.io", "v1", "virtualservices",
                                    "VirtualService"};

// A list item as the API server sends it (JSON; no apiVersion/kind in typed lists).
YAML::Node service(const std::string& name, int port, const std::string& rv) {
  return YAML::Load(R"({"metadata": {"name": ")" + name +
                    R"(", "namespace": "default", "resourceVersion": ")" + rv +
                    R"(", "uid": "u"}, "spec": {"clusterIP": "10.0.0.1", "ports": [{"port": )" +
                    std::to_string(port) + "}]}, \"status\": {\"loadBalancer\": {}}}");
}

ObjectKey key(const std::string& name) { return ObjectKey{"Service", "default", name}; }

int portOf(const SourceSnapshot& s, const std::string& name) {
  auto it = s.objects.find(key(name));
  return it == s.objects.end() ? 0 : std::get<Service>(it->second.body).ports[0].port;
}

TEST(KubeStoreTest, ListThenEventsAddModifyDelete) {
  KubeStore store;
  store.replace(kServices, {service("a", 80, "1"), service("b", 81, "2")});
  auto s = store.take();
  EXPECT_EQ(portOf(s, "a"), 80);
  EXPECT_EQ(portOf(s, "b"), 81);
  EXPECT_EQ(s.changed, (std::set<ObjectKey>{key("a"), key("b")}));
  EXPECT_FALSE(store.dirty());

  store.apply(kServices, "MODIFIED", service("a", 90, "3"));
  store.apply(kServices, "ADDED", service("c", 82, "4"));
  store.apply(kServices, "DELETED", service("b", 81, "5"));
  s = store.take();
  EXPECT_EQ(portOf(s, "a"), 90);
  EXPECT_EQ(portOf(s, "b"), 0);
  EXPECT_EQ(portOf(s, "c"), 82);
  EXPECT_EQ(s.changed, (std::set<ObjectKey>{key("a"), key("b"), key("c")}));
}

TEST(KubeStoreTest, RelistDiffsByResourceVersion) {
  KubeStore store;
  store.replace(kServices, {service("a", 80, "1"), service("b", 81, "2"), service("c", 82, "3")});
  store.take();
  // After a 410 the relist shows a unchanged, b modified, c gone and d new.
  store.replace(kServices, {service("a", 80, "1"), service("b", 91, "7"), service("d", 83, "8")});
  auto s = store.take();
  EXPECT_EQ(s.changed, (std::set<ObjectKey>{key("b"), key("c"), key("d")}));
  EXPECT_EQ(portOf(s, "a"), 80);
  EXPECT_EQ(portOf(s, "b"), 91);
  EXPECT_EQ(portOf(s, "c"), 0);
  EXPECT_EQ(portOf(s, "d"), 83);
  // A relist of one resource leaves the others alone.
  store.replace(kVirtualServices, {});
  EXPECT_FALSE(store.dirty());
  EXPECT_EQ(store.take().objects.size(), 3u);
}

TEST(KubeStoreTest, MalformedObjectIsReportedAndKeepsLastGoodVersion) {
  KubeStore store;
  store.replace(kServices, {service("a", 80, "1")});
  store.take();
  auto bad = service("a", 80, "2");
  bad["spec"]["ports"][0]["port"] = "eighty";
  store.apply(kServices, "MODIFIED", bad);
  ASSERT_TRUE(store.dirty());
  auto s = store.take();
  EXPECT_TRUE(s.changed.empty());
  EXPECT_EQ(portOf(s, "a"), 80);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors[0].file, "Service default/a");
  EXPECT_EQ(s.errors[0].message, "spec.ports[0].port: expected an unsigned integer, got 'eighty'");
  // A malformed new object serves nothing; fixing it clears the error.
  auto bad_vs = YAML::Load(
      R"({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata":
          {"name": "r", "namespace": "ns1", "resourceVersion": "3"}, "spec": {"hosts": "x"}})");
  store.apply(kVirtualServices, "ADDED", bad_vs);
  s = store.take();
  EXPECT_EQ(s.objects.count(ObjectKey{"VirtualService", "ns1", "r"}), 0u);
  EXPECT_EQ(s.errors.size(), 2u);
  store.apply(kServices, "MODIFIED", service("a", 85, "4"));
  store.apply(kVirtualServices, "DELETED", bad_vs);
  s = store.take();
  EXPECT_EQ(portOf(s, "a"), 85);
  EXPECT_TRUE(s.errors.empty());
}

// The model ignores an Endpoints object while its service has slices (pilot_translation_test);
// the store marks that Endpoints object changed with each slice change.
TEST(KubeStoreTest, SliceChangesMarkTheirServicesEndpointsChanged) {
  KubeStore store;
  store.replace(kEndpoints, {YAML::Load(R"({"metadata": {"name": "r", "namespace": "default",
      "resourceVersion": "1"}, "subsets": [{"addresses": [{"ip": "10.1.0.1"}],
      "ports": [{"port": 80}]}]})")});
  EXPECT_EQ(store.take().objects.count(ObjectKey{"Endpoints", "default", "r"}), 1u);
  auto slice = YAML::Load(R"({"metadata": {"name": "r-abc", "namespace": "default",
      "resourceVersion": "2", "labels": {"kubernetes.io/service-name": "r"}},
      "addressType": "IPv4", "ports": [{"port": 80}], "endpoints": [{"addresses": ["10.1.0.1"]}]})");
  store.apply(kSlices, "ADDED", slice);
  auto s = store.take();
  EXPECT_EQ(s.objects.count(ObjectKey{"EndpointSlice", "default", "r-abc"}), 1u);
  EXPECT_TRUE(s.changed.count(ObjectKey{"Endpoints", "default", "r"}));
  store.apply(kSlices, "DELETED", slice);
  EXPECT_TRUE(store.take().changed.count(ObjectKey{"Endpoints", "default", "r"}));
}

TEST(KubeStoreTest, ResourceVersionOf) {
  EXPECT_EQ(resourceVersionOf(YAML::Load(R"({"metadata": {"resourceVersion": "42"}})")), "42");
  EXPECT_EQ(resourceVersionOf(YAML::Load(R"({"kind": "Status"})")), "");
}

// The Kubernetes client decodes watch streams with the proxy's own chunked decoder.
TEST(ChunkedDecoderTest, DecodesAcrossArbitrarySplits) {
  struct Collect : http::http1::ChunkedDecoder::Callbacks {
    void onBodyData(std::string_view data) override { out.append(data); }
    std::string out;
  };
  const std::string wire = "5;ext=1\r\nhello\r\n1\r\n\n\r\n0\r\nTrailer: x\r\n\r\n";
  for (size_t step = 1; step <= wire.size(); ++step) {
    http::http1::ChunkedDecoder decoder;
    Collect collect;
    http::http1::ParseResult result;
    for (size_t i = 0; i < wire.size(); i += step) {
      result = decoder.decode(std::string_view(wire).substr(i, step), collect);
      ASSERT_TRUE(result.ok());
    }
    EXPECT_EQ(result.status, http::http1::ParseStatus::Done);
    EXPECT_EQ(collect.out, "hello\n");
  }
  http::http1::ChunkedDecoder bad;
  Collect ignored;
  EXPECT_FALSE(bad.decode("zz\r\n", ignored).ok());
}

TEST(HttpUrlTest, ParsesHttpAndHttps) {
  auto url = parseHttpUrl("http://127.0.0.1:6443/prefix/");
  ASSERT_TRUE(url.ok());
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 6443);
  EXPECT_EQ(url->base_path, "/prefix");
  EXPECT_EQ(parseHttpUrl("http://[::1]")->host, "::1");
  EXPECT_EQ(parseHttpUrl("http://[::1]")->port, 80);
  auto https = parseHttpUrl("https://kubernetes.default.svc");
  ASSERT_TRUE(https.ok());
  EXPECT_TRUE(https->tls);
  EXPECT_EQ(https->port, 443);
  EXPECT_FALSE(parseHttpUrl("unix:///var/run/k8s.sock").ok());
  EXPECT_FALSE(parseHttpUrl("http://host:99999").ok());
}

// A one-connection loopback server: reads the request head, then writes `pieces` one by one
// (a short pause between them, so the client sees separate reads), then closes unless `hold`.
class CannedServer {
 public:
  CannedServer(std::vector<std::string> pieces, bool hold = false) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len);
    ::listen(listener_, 1);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    url_.host = "127.0.0.1";
    url_.port = ntohs(addr.sin_port);
    thread_ = std::thread([this, pieces, hold] {
      int fd = ::accept(listener_, nullptr, nullptr);
      std::string head;
      char c;
      while (head.find("\r\n\r\n") == std::string::npos && ::read(fd, &c, 1) == 1) head += c;
      request_ = head;
      for (const auto& piece : pieces) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        (void)::write(fd, piece.data(), piece.size());
      }
      if (hold) {
        char buffer[16];
        while (::read(fd, buffer, sizeof(buffer)) > 0) {
        }
      }
      ::close(fd);
    });
  }
  ~CannedServer() {
    thread_.join();
    ::close(listener_);
  }
  const HttpUrl& url() const { return url_; }
  std::string request_;

 private:
  int listener_;
  HttpUrl url_;
  std::thread thread_;
};

TEST(HttpResponseStreamTest, ChunkedBodyAcrossReads) {
  CannedServer server({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n{\"a\":1}",
                       "\n\r\n", "3\r\nxyz\r\n0\r\n\r\n"});
  std::atomic<bool> cancel{false};
  auto stream =
      HttpResponseStream::get(server.url(), "/api/v1/pods?watch=true",
                              {{"Authorization", "Bearer t"}}, cancel, std::chrono::seconds(5));
  ASSERT_TRUE(stream.ok()) << stream.status().message();
  EXPECT_EQ((*stream)->status(), 200);
  auto body = (*stream)->readAll(1024);
  ASSERT_TRUE(body.ok()) << body.status().message();
  EXPECT_EQ(*body, "{\"a\":1}\nxyz");
  EXPECT_EQ(server.request_.rfind("GET /api/v1/pods?watch=true HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(server.request_.find("\r\nAuthorization: Bearer t\r\n"), std::string::npos);
}

TEST(HttpResponseStreamTest, ContentLengthAndCloseDelimitedBodies) {
  {
    CannedServer server({"HTTP/1.1 410 Gone\r\nContent-Length: 5\r\n\r\nab", "cde"});
    std::atomic<bool> cancel{false};
    auto stream = HttpResponseStream::get(server.url(), "/", {}, cancel, std::chrono::seconds(5));
    ASSERT_TRUE(stream.ok());
    EXPECT_EQ((*stream)->status(), 410);
    EXPECT_EQ(*(*stream)->readAll(1024), "abcde");
  }
  {
    CannedServer server({"HTTP/1.0 200 OK\r\n\r\nuntil", " close"});
    std::atomic<bool> cancel{false};
    auto stream = HttpResponseStream::get(server.url(), "/", {}, cancel, std::chrono::seconds(5));
    ASSERT_TRUE(stream.ok());
    EXPECT_EQ(*(*stream)->readAll(1024), "until close");
  }
  {
    // A chunked body cut short, in chunk data or in a chunk's size line, is an error.
    for (const char* cut : {"9\r\nabc", "3\r\nabc\r\n1"}) {
      CannedServer server(
          {std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") + cut});
      std::atomic<bool> cancel{false};
      auto stream = HttpResponseStream::get(server.url(), "/", {}, cancel, std::chrono::seconds(5));
      ASSERT_TRUE(stream.ok());
      EXPECT_FALSE((*stream)->readAll(1024).ok()) << cut;
    }
  }
}

TEST(HttpResponseStreamTest, CancelInterruptsAWaitingRead) {
  std::atomic<bool> cancel{false};
  CannedServer server({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"}, /*hold=*/true);
  auto stream = HttpResponseStream::get(server.url(), "/", {}, cancel, std::chrono::seconds(30));
  ASSERT_TRUE(stream.ok());
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cancel = true;
  });
  const auto start = std::chrono::steady_clock::now();
  std::string out;
  auto more = (*stream)->read(out);
  canceller.join();
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.status().message(), "cancelled");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  stream->reset();  // closes the connection, ending the server's hold
}

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("pilot-kubeconfig-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  std::string write(const std::string& text) {
    std::ofstream(path_) << text;
    return path_.string();
  }
  void TearDown() override {
    std::filesystem::remove(path_);
    std::filesystem::remove(path_.string() + ".token");
  }
  std::filesystem::path path_;
};

constexpr const char* kKubeconfig = R"(
apiVersion: v1
kind: Config
current-context: test
contexts:
- name: other
  context: {cluster: other, user: other, namespace: kube-system}
- name: test
  context: {cluster: local, user: admin}
clusters:
- name: local
  cluster: {server: "http://127.0.0.1:8001"}
users:
- name: admin
  user: {USER}
)";

std::string kubeconfig(const std::string& user) {
  std::string text = kKubeconfig;
  return text.replace(text.find("{USER}"), 6, user);
}

TEST_F(KubeconfigTest, CurrentContextServerAndToken) {
  auto target = loadKubeconfig(write(kubeconfig("{token: abc}")));
  ASSERT_TRUE(target.ok()) << target.status().message();
  EXPECT_EQ(target->url.port, 8001);
  EXPECT_EQ(*target->bearerToken(), "abc");
}

TEST_F(KubeconfigTest, TokenFileIsReadRelativeToTheKubeconfig) {
  std::string path = write(kubeconfig("{tokenFile: " + path_.filename().string() + ".token}"));
  std::ofstream(path + ".token") << "t1\n";
  auto target = loadKubeconfig(path);
  ASSERT_TRUE(target.ok()) << target.status().message();
  EXPECT_EQ(*target->bearerToken(), "t1");
  std::ofstream(path + ".token") << "t2";  // rotated
  EXPECT_EQ(*target->bearerToken(), "t2");
}

TEST_F(KubeconfigTest, FieldsNotHonouredAreRejectedByName) {
  auto target = loadKubeconfig(write(kubeconfig("{exec: {command: aws}}")));
  ASSERT_FALSE(target.ok());
  EXPECT_NE(target.status().message().find("users[0].user.exec: not supported by remora-pilot"),
            std::string::npos)
      << target.status().message();
  std::string text = kubeconfig("{token: a}");
  text.replace(text.find("{server: "), 9, "{tls-server-name: x, server: ");
  target = loadKubeconfig(write(text));
  ASSERT_FALSE(target.ok());
  EXPECT_NE(target.status().message().find("clusters[0].cluster.tls-server-name: not supported"),
            std::string::npos)
      << target.status().message();
}

TEST_F(KubeconfigTest, HttpsServerWithTlsSettings) {
  std::string text = kubeconfig("{token: a}");
  text.replace(text.find("http://"), 7, "https://");
  text.replace(text.find("{server: "), 9, "{insecure-skip-tls-verify: true, server: ");
  auto target = loadKubeconfig(write(text));
  ASSERT_TRUE(target.ok()) << target.status().message();
  EXPECT_TRUE(target->url.tls);
  EXPECT_NE(target->tls, nullptr);
  text.replace(text.find("insecure-skip-tls-verify: true"), 30, "certificate-authority-data: '!!'");
  target = loadKubeconfig(write(text));
  ASSERT_FALSE(target.ok());
  EXPECT_NE(target.status().message().find("certificate-authority-data: not base64"),
            std::string::npos)
      << target.status().message();
}

}  // namespace
}  // namespace remora::pilot
