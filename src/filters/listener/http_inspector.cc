// envoy.filters.listener.http_inspector: peeks at a plaintext connection's first bytes and records
// the application protocol they start ("http/1.0", "http/1.1" or "h2c" for the HTTP/2
// prior-knowledge preface) for filter chain selection by application_protocols.
#include "config/extension_registry.h"
#include "envoy/extensions/filters/listener/http_inspector/v3/http_inspector.pb.h"
#include "filters/listener/factory.h"
#include "filters/listener/inspect/http_request_line.h"

namespace remora::filters::listener {
namespace {

using inspect::HttpVerdict;

// Envoy's http_inspector.* stats (rooted at the server, not per listener).
struct HttpInspectorStats {
  explicit HttpInspectorStats(stats::Store& store)
      : read_error(store.counter("http_inspector.read_error")),
        http10_found(store.counter("http_inspector.http10_found")),
        http11_found(store.counter("http_inspector.http11_found")),
        http2_found(store.counter("http_inspector.http2_found")),
        http_not_found(store.counter("http_inspector.http_not_found")) {}
  stats::Counter& read_error;
  stats::Counter& http10_found;
  stats::Counter& http11_found;
  stats::Counter& http2_found;
  stats::Counter& http_not_found;
};

class HttpInspectorFilter final : public ListenerFilter {
 public:
  explicit HttpInspectorFilter(std::shared_ptr<const HttpInspectorStats> stats)
      : stats_(std::move(stats)) {}

  net::FilterStatus onAccept(ListenerFilterCallbacks& callbacks) override {
    callbacks_ = &callbacks;
    // As Envoy: a connection another inspector found to be TLS is not plaintext HTTP.
    const std::string& transport = callbacks.info().transport_protocol;
    if (!transport.empty() && transport != "raw_buffer") return net::FilterStatus::Continue;
    return net::FilterStatus::StopIteration;
  }
  size_t maxReadBytes() const override { return inspect::kMaxHttpInspectSize; }

  net::FilterStatus onData(std::string_view peeked) override {
    const HttpVerdict verdict = inspect::detectHttp(peeked);
    switch (verdict) {
      case HttpVerdict::NeedMore:
        return net::FilterStatus::StopIteration;
      case HttpVerdict::NotHttp:
        stats_->http_not_found.inc();
        return net::FilterStatus::Continue;
      case HttpVerdict::Http10:
        stats_->http10_found.inc();
        break;
      case HttpVerdict::Http11:
        stats_->http11_found.inc();
        break;
      case HttpVerdict::H2c:
        stats_->http2_found.inc();
        break;
    }
    callbacks_->info().application_protocols = {std::string(inspect::httpVerdictProtocol(verdict))};
    return net::FilterStatus::Continue;
  }

 private:
  const std::shared_ptr<const HttpInspectorStats> stats_;
  ListenerFilterCallbacks* callbacks_ = nullptr;
};

class HttpInspectorFactory final : public NamedListenerFilterConfigFactory {
 public:
  StatusOr<ListenerFilterFactoryCb> createFilterFactory(const google::protobuf::Message&,
                                                        stats::Store& store) const override {
    auto stats = std::make_shared<HttpInspectorStats>(store);
    return ListenerFilterFactoryCb(
        [stats] { return std::make_unique<HttpInspectorFilter>(stats); });
  }
};

const config::RegisterExtension kRegistration{
    config::ExtensionCategory::ListenerFilter, "envoy.filters.listener.http_inspector",
    envoy::extensions::filters::listener::http_inspector::v3::HttpInspector::descriptor()
        ->full_name(),
    std::shared_ptr<const NamedListenerFilterConfigFactory>(
        std::make_shared<HttpInspectorFactory>())};

}  // namespace
}  // namespace remora::filters::listener
