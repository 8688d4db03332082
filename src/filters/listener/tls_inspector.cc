// envoy.filters.listener.tls_inspector: peeks at a connection's first bytes and, when they are a
// TLS ClientHello, records transport protocol "tls", the SNI and the ALPN offers for filter chain
// selection. The bytes stay in the socket: the chosen chain's connection reads them (TLS passes
// through untouched until remora terminates TLS).
#include "config/extension_registry.h"
#include "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.pb.h"
#include "filters/listener/factory.h"
#include "filters/listener/inspect/tls_client_hello.h"

namespace remora::filters::listener {
namespace {

using inspect::ClientHello;

// Envoy's tls_inspector.* stats (rooted at the server, not per listener).
struct TlsInspectorStats {
  explicit TlsInspectorStats(stats::Store& store)
      : client_hello_too_large(store.counter("tls_inspector.client_hello_too_large")),
        tls_found(store.counter("tls_inspector.tls_found")),
        tls_not_found(store.counter("tls_inspector.tls_not_found")),
        alpn_found(store.counter("tls_inspector.alpn_found")),
        alpn_not_found(store.counter("tls_inspector.alpn_not_found")),
        sni_found(store.counter("tls_inspector.sni_found")),
        sni_not_found(store.counter("tls_inspector.sni_not_found")),
        bytes_processed(store.histogram("tls_inspector.bytes_processed")) {}
  stats::Counter& client_hello_too_large;
  stats::Counter& tls_found;
  stats::Counter& tls_not_found;
  stats::Counter& alpn_found;
  stats::Counter& alpn_not_found;
  stats::Counter& sni_found;
  stats::Counter& sni_not_found;
  stats::Histogram& bytes_processed;
};

class TlsInspectorFilter final : public ListenerFilter {
 public:
  explicit TlsInspectorFilter(std::shared_ptr<const TlsInspectorStats> stats)
      : stats_(std::move(stats)) {}

  net::FilterStatus onAccept(ListenerFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
    return net::FilterStatus::StopIteration;  // the ClientHello comes first, if at all
  }
  size_t maxReadBytes() const override { return inspect::kMaxClientHelloSize; }

  net::FilterStatus onData(std::string_view peeked) override {
    const ClientHello hello = inspect::parseClientHello(peeked);
    switch (hello.verdict) {
      case ClientHello::Verdict::NeedMore:
        return net::FilterStatus::StopIteration;
      case ClientHello::Verdict::TooLarge:
        // As Envoy: a hello this large is not waited for; the connection is closed.
        stats_->client_hello_too_large.inc();
        callbacks_->continueFilterChain(false);
        return net::FilterStatus::StopIteration;
      case ClientHello::Verdict::NotTls:
        stats_->tls_not_found.inc();
        stats_->bytes_processed.recordValue(peeked.size());
        return net::FilterStatus::Continue;
      case ClientHello::Verdict::Tls:
        break;
    }
    stats_->tls_found.inc();
    stats_->bytes_processed.recordValue(hello.bytes_used);
    net::ConnectionInfo& info = callbacks_->info();
    info.transport_protocol = "tls";
    (hello.server_name.empty() ? stats_->sni_not_found : stats_->sni_found).inc();
    info.requested_server_name = hello.server_name;
    (hello.application_protocols.empty() ? stats_->alpn_not_found : stats_->alpn_found).inc();
    info.application_protocols = hello.application_protocols;
    return net::FilterStatus::Continue;
  }

 private:
  const std::shared_ptr<const TlsInspectorStats> stats_;
  ListenerFilterCallbacks* callbacks_ = nullptr;
};

class TlsInspectorFactory final : public NamedListenerFilterConfigFactory {
 public:
  StatusOr<ListenerFilterFactoryCb> createFilterFactory(const google::protobuf::Message&,
                                                        stats::Store& store) const override {
    auto stats = std::make_shared<TlsInspectorStats>(store);
    return ListenerFilterFactoryCb([stats] { return std::make_unique<TlsInspectorFilter>(stats); });
  }
};

const config::RegisterExtension kRegistration{
    config::ExtensionCategory::ListenerFilter, "envoy.filters.listener.tls_inspector",
    envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector::descriptor()
        ->full_name(),
    std::shared_ptr<const NamedListenerFilterConfigFactory>(
        std::make_shared<TlsInspectorFactory>())};

}  // namespace
}  // namespace remora::filters::listener
