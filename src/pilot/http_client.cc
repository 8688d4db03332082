#include "pilot/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace remora::pilot {
namespace {

constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr int kPollSliceMs = 100;  // how often a blocked wait looks at the cancel flag

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Waits until `fd` is ready for `events`, in slices so that `cancel` is honoured.
Status waitFor(int fd, short events, const std::atomic<bool>& cancel,
               std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (cancel.load()) return Status::error("cancelled");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Status::error("timed out");
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), kPollSliceMs)));
    if (n > 0) return Status();
    if (n < 0 && errno != EINTR) return Status::error(std::string("poll: ") + strerror(errno));
  }
}

StatusOr<int> connectTo(const HttpUrl& url, const std::atomic<bool>& cancel,
                        std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &found);
  if (rc != 0) return Status::error("resolving " + url.host + ": " + gai_strerror(rc));
  std::string last_error = "no address";
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
      Status ready = waitFor(fd, POLLOUT, cancel, timeout);
      int error = 0;
      socklen_t len = sizeof(error);
      if (ready.ok() && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0) {
        ::freeaddrinfo(found);
        return fd;
      }
      last_error = ready.ok() ? strerror(error) : ready.message();
    } else {
      last_error = strerror(errno);
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return Status::error("connecting to " + url.host + ":" + std::to_string(url.port) + ": " +
                       last_error);
}

// The last OpenSSL error on this thread's queue, which it clears.
std::string opensslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof(buffer));
  return buffer;
}

// Adds the PEM certificates in `pem` to the context's trust store.
Status addCaCertificates(SSL_CTX* ctx, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, cert) == 1) ++added;
    X509_free(cert);
  }
  BIO_free(bio);
  ERR_clear_error();  // the read that ends the loop leaves "no start line"
  return added > 0 ? Status() : Status::error("no PEM certificate in the certificate authority");
}

Status useClientCertificate(SSL_CTX* ctx, const std::string& cert_pem, const std::string& key_pem) {
  BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return Status::error("client certificate: " + opensslError());
  int ok = SSL_CTX_use_certificate(ctx, cert);
  X509_free(cert);
  if (ok != 1) return Status::error("client certificate: " + opensslError());
  bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return Status::error("client key: " + opensslError());
  ok = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (ok != 1 || SSL_CTX_check_private_key(ctx) != 1)
    return Status::error("client key: " + opensslError());
  return Status();
}

}  // namespace

StatusOr<HttpUrl> parseHttpUrl(const std::string& url) {
  HttpUrl out;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    out.tls = true;
    out.port = 443;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return Status::error(url + ": expected an http:// or https:// URL");
  }
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) out.base_path = rest.substr(slash);
  while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
  size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    try {
      int port = std::stoi(authority.substr(colon + 1));
      if (port <= 0 || port > 65535) throw std::out_of_range("port");
      out.port = static_cast<uint16_t>(port);
    } catch (...) {
      return Status::error(url + ": bad port");
    }
    authority = authority.substr(0, colon);
  }
  if (authority.size() > 2 && authority.front() == '[' && authority.back() == ']')
    authority = authority.substr(1, authority.size() - 2);
  if (authority.empty()) return Status::error(url + ": no host");
  out.host = authority;
  return out;
}

StatusOr<std::shared_ptr<const TlsContext>> TlsContext::create(const TlsOptions& options) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return Status::error("TLS: " + opensslError());
  std::shared_ptr<const TlsContext> out(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // A server that closes without close_notify ends a body delimited by the connection's end.
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (!options.insecure_skip_verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (options.ca_pem.empty()) {
      if (SSL_CTX_set_default_verify_paths(ctx) != 1)
        return Status::error("TLS: the system's CA certificates: " + opensslError());
    } else {
      RETURN_IF_ERROR(addCaCertificates(ctx, options.ca_pem));
    }
  }
  if (!options.client_cert_pem.empty() || !options.client_key_pem.empty())
    RETURN_IF_ERROR(useClientCertificate(ctx, options.client_cert_pem, options.client_key_pem));
  return out;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

HttpResponseStream::~HttpResponseStream() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  ::close(fd_);
}

Status HttpResponseStream::waitForTls(int rc, const char* what) {
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
      return waitFor(fd_, POLLIN, cancel_, idle_timeout_);
    case SSL_ERROR_WANT_WRITE:
      return waitFor(fd_, POLLOUT, cancel_, idle_timeout_);
    case SSL_ERROR_SYSCALL:
      ERR_clear_error();
      return Status::error(std::string(what) + ": " +
                           (errno ? strerror(errno) : "connection closed"));
    default: {
      std::string error = std::string(what) + ": " + opensslError();
      long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK)
        error += " (" + std::string(X509_verify_cert_error_string(verify)) + ")";
      return Status::error(error);
    }
  }
}

Status HttpResponseStream::handshake(const HttpUrl& url, const TlsContext& tls) {
  ssl_ = SSL_new(tls.ctx());
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) return Status::error("TLS: " + opensslError());
  // The certificate must name the server: its IP address, or its host name (also sent as SNI).
  in6_addr ip;
  const bool is_ip = inet_pton(AF_INET, url.host.c_str(), &ip) == 1 ||
                     inet_pton(AF_INET6, url.host.c_str(), &ip) == 1;
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), url.host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_, url.host.c_str());
    SSL_set1_host(ssl_, url.host.c_str());
  }
  int rc;
  while ((rc = SSL_connect(ssl_)) != 1) RETURN_IF_ERROR(waitForTls(rc, "TLS handshake"));
  return Status();
}

Status HttpResponseStream::sendAll(const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    if (ssl_ != nullptr) {
      int n = SSL_write(ssl_, data.data() + sent, static_cast<int>(data.size() - sent));
      if (n > 0)
        sent += static_cast<size_t>(n);
      else
        RETURN_IF_ERROR(waitForTls(n, "TLS write"));
      continue;
    }
    ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      RETURN_IF_ERROR(waitFor(fd_, POLLOUT, cancel_, idle_timeout_));
    } else {
      return Status::error(std::string("send: ") + strerror(errno));
    }
  }
  return Status();
}

StatusOr<std::unique_ptr<HttpResponseStream>> HttpResponseStream::get(
    const HttpUrl& url, const std::string& target, const Headers& headers,
    const std::atomic<bool>& cancel, std::chrono::milliseconds idle_timeout,
    const TlsContext* tls) {
  if (url.tls && tls == nullptr) return Status::error("https without TLS settings");
  auto fd = connectTo(url, cancel, idle_timeout);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<HttpResponseStream> stream(new HttpResponseStream(*fd, cancel, idle_timeout));
  if (url.tls) RETURN_IF_ERROR(stream->handshake(url, *tls));
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  std::string request = "GET " + url.base_path + target + " HTTP/1.1\r\nHost: " + host + ":" +
                        std::to_string(url.port) +
                        "\r\nAccept: application/json\r\nUser-Agent: remora-pilot\r\n"
                        "Connection: close\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  request += "\r\n";
  RETURN_IF_ERROR(stream->sendAll(request));
  RETURN_IF_ERROR(stream->readHead());
  return stream;
}

StatusOr<bool> HttpResponseStream::fill() {
  if (eof_) return false;
  char buffer[16 * 1024];
  // Read first, then wait: TLS may hold decrypted bytes that poll() cannot see.
  while (true) {
    if (ssl_ != nullptr) {
      int n = SSL_read(ssl_, buffer, sizeof(buffer));
      if (n > 0) {
        raw_.append(buffer, static_cast<size_t>(n));
        return true;
      }
      if (SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN) {
        eof_ = true;
        return false;
      }
      RETURN_IF_ERROR(waitForTls(n, "TLS read"));
      continue;
    }
    ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n > 0) {
      raw_.append(buffer, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return Status::error(std::string("recv: ") + strerror(errno));
    RETURN_IF_ERROR(waitFor(fd_, POLLIN, cancel_, idle_timeout_));
  }
}

Status HttpResponseStream::readHead() {
  size_t end;
  while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
    if (raw_.size() > kMaxHeadBytes) return Status::error("response headers too large");
    auto more = fill();
    if (!more.ok()) return more.status();
    if (!*more) return Status::error("connection closed before the response headers");
  }
  std::string head = raw_.substr(0, end);
  raw_.erase(0, end + 4);
  size_t eol = head.find("\r\n");
  std::string status_line = head.substr(0, eol);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12)
    return Status::error("bad status line '" + status_line + "'");
  status_ = std::atoi(status_line.c_str() + 9);
  size_t pos = eol == std::string::npos ? head.size() : eol + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    if (next == std::string::npos) next = head.size();
    std::string line = head.substr(pos, next - pos);
    pos = next + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = lower(trim(line.substr(0, colon)));
    std::string value = trim(line.substr(colon + 1));
    if (name == "transfer-encoding" && lower(value).find("chunked") != std::string::npos)
      chunked_ = true;
    else if (name == "content-length")
      content_length_ = std::atoll(value.c_str());
  }
  if (chunked_) content_length_ = -1;
  return Status();
}

Status HttpResponseStream::decodeChunks(std::string& out) {
  struct Append : http::http1::ChunkedDecoder::Callbacks {
    explicit Append(std::string& to) : to(to) {}
    void onBodyData(std::string_view data) override { to.append(data); }
    std::string& to;
  } append(out);
  const auto result = chunks_.decode(raw_, append);
  if (!result.ok()) return Status::error("bad chunked body: " + std::string(result.reason));
  // NeedMore took every byte given; Done says how many belonged to the body.
  raw_.erase(0, result.status == http::http1::ParseStatus::Done ? result.consumed : raw_.size());
  done_ = result.status == http::http1::ParseStatus::Done;
  return Status();
}

StatusOr<bool> HttpResponseStream::read(std::string& out) {
  while (!done_) {
    size_t before = out.size();
    if (chunked_) {
      RETURN_IF_ERROR(decodeChunks(out));
    } else if (content_length_ >= 0) {
      size_t take = std::min<size_t>(static_cast<size_t>(content_length_), raw_.size());
      out.append(raw_, 0, take);
      raw_.erase(0, take);
      content_length_ -= static_cast<int64_t>(take);
      done_ = content_length_ == 0;
    } else {
      out += raw_;
      raw_.clear();
    }
    if (out.size() > before) return !done_;
    if (done_) break;
    auto more = fill();
    if (!more.ok()) return more.status();
    if (!*more) {
      // Bytes left undecoded at the end are a truncated chunk header.
      if (chunked_ || content_length_ > 0)
        return Status::error("connection closed in the middle of the response body");
      done_ = true;  // a body delimited by the connection's end
    }
  }
  return false;
}

StatusOr<std::string> HttpResponseStream::readAll(size_t max_bytes) {
  std::string body;
  while (true) {
    auto more = read(body);
    if (!more.ok()) return more.status();
    if (body.size() > max_bytes)
      return Status::error("response body larger than " + std::to_string(max_bytes) + " bytes");
    if (!*more) return body;
  }
}

}  // namespace remora::pilot
