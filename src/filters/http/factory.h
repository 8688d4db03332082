#pragma once

#include <google/protobuf/message.h>

#include <functional>
#include <set>
#include <string>

#include "common/status.h"
#include "http/filter.h"
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
};

}  // namespace remora::filters::http
