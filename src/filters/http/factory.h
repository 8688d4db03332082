#pragma once

#include <google/protobuf/any.pb.h>
#include <google/protobuf/message.h>

#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "http/filter.h"
#include "router/route.h"
#include "server/worker_context.h"
#include "stats/store.h"

namespace remora::filters::http {

// Main-thread context while an HTTP filter's config is built.
struct FactoryContext {
  stats::Store& stats;
  // "http.<stat_prefix>." of the connection manager the filter belongs to.
  const std::string& stats_prefix;
  const std::set<std::string, std::less<>>& cluster_names;
};

// Runs for each new stream on a worker: installs this filter's instance(s).
using FilterFactoryCb =
    std::function<void(remora::http::FilterChainFactoryCallbacks& callbacks, server::WorkerContext& worker)>;

// One HTTP filter extension: turns its validated typed_config into a FilterFactoryCb, once.
class NamedHttpFilterConfigFactory {
 public:
  virtual ~NamedHttpFilterConfigFactory() = default;
  virtual StatusOr<FilterFactoryCb> createFilterFactory(const google::protobuf::Message& config,
                                                        FactoryContext& context) const = 0;
  // The router: must be last in http_filters, as Envoy requires.
  virtual bool isTerminalFilter() const { return false; }

  // The message this filter takes in typed_per_filter_config (e.g. CorsPolicy for cors, the
  // filter's own config for fault); empty when it takes none.
  virtual std::string_view routeSpecificConfigType() const { return {}; }
  // Builds the per-route config from a message of routeSpecificConfigType(). `stats` (nullable:
  // route tables built without a stats store) is where the config creates its stats.
  virtual StatusOr<router::RouteSpecificFilterConfigConstSharedPtr> createRouteSpecificFilterConfig(
      const google::protobuf::Message& config, stats::Store* stats) const {
    return Status::error("takes no per-route config");
  }
};

// Resolves one typed_per_filter_config entry: `key` names the filter (its extension name, as in
// http_filters), or else the packed type identifies it, as Envoy does. Returns the filter's
// extension name (the key filters look it up by) and the parsed config.
StatusOr<std::pair<std::string, router::RouteSpecificFilterConfigConstSharedPtr>>
createRouteSpecificFilterConfig(std::string_view key, const google::protobuf::Any& config,
                                stats::Store* stats);

}  // namespace remora::filters::http
