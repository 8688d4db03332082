#pragma once

// A small blocking HTTP/1.1 client for the Kubernetes API source: one GET per connection
// (`Connection: close`), the response body streamed as it arrives (chunked, Content-Length or
// until close), every wait bounded by an idle timeout and interrupted by a cancel flag polled
// every 100 ms. https:// goes through OpenSSL (TlsContext): the server's certificate is verified
// against the given CA (or the system's) and its name or IP, optionally with a client
// certificate.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "http/http1/chunked_decoder.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace remora::pilot {

struct HttpUrl {
  bool tls = false;
  std::string host;
  uint16_t port = 80;
  std::string base_path;  // without a trailing '/', "" for the root
};

// "http[s]://host[:port][/path]"; other schemes are errors.
StatusOr<HttpUrl> parseHttpUrl(const std::string& url);

// How https connections verify the server and present themselves (PEM texts).
struct TlsOptions {
  std::string ca_pem;  // "" : the system's default CA paths
  bool insecure_skip_verify = false;
  std::string client_cert_pem;
  std::string client_key_pem;
};

// An OpenSSL client context, built once and shared by every connection (thread-safe once built).
class TlsContext {
 public:
  static StatusOr<std::shared_ptr<const TlsContext>> create(const TlsOptions& options);
  ~TlsContext();
  SSL_CTX* ctx() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

class HttpResponseStream {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;
  ~HttpResponseStream();

  // Connects, sends `GET <target>` with `headers`, and reads the status line and headers.
  // `tls` is required for https URLs.
  static StatusOr<std::unique_ptr<HttpResponseStream>> get(const HttpUrl& url,
                                                           const std::string& target,
                                                           const Headers& headers,
                                                           const std::atomic<bool>& cancel,
                                                           std::chrono::milliseconds idle_timeout,
                                                           const TlsContext* tls = nullptr);

  int status() const { return status_; }
  // Appends the next body bytes to `out`; false once the body is complete.
  StatusOr<bool> read(std::string& out);
  // The rest of the body, at most `max_bytes`.
  StatusOr<std::string> readAll(size_t max_bytes);

 private:
  HttpResponseStream(int fd, const std::atomic<bool>& cancel, std::chrono::milliseconds timeout)
      : fd_(fd), cancel_(cancel), idle_timeout_(timeout) {}
  // Waits for and reads more bytes into raw_; false at EOF.
  StatusOr<bool> fill();
  Status readHead();
  // Decodes what raw_ holds of a chunked body into `out`.
  Status decodeChunks(std::string& out);
  Status handshake(const HttpUrl& url, const TlsContext& tls);
  Status sendAll(const std::string& data);
  // After an OpenSSL call returned `rc`: waits as it asks (ok) or says why it failed.
  Status waitForTls(int rc, const char* what);

  int fd_;
  SSL* ssl_ = nullptr;
  const std::atomic<bool>& cancel_;
  std::chrono::milliseconds idle_timeout_;
  int status_ = 0;
  bool chunked_ = false;
  int64_t content_length_ = -1;  // -1: until the connection closes
  bool eof_ = false;
  bool done_ = false;
  std::string raw_;                     // bytes read but not yet decoded
  http::http1::ChunkedDecoder chunks_;  // the proxy's own strict decoder
};

}  // namespace remora::pilot
