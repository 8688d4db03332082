#pragma once

#include <string>

#include "stats/store.h"

namespace remora::xds {

// Envoy's per-subscription stats (config/subscription: update_attempt, update_success,
// update_failure, update_rejected, init_fetch_timeout, version), under the consumer's prefix:
// "listener_manager.lds.", "cluster_manager.cds.", "http.<prefix>.rds.<name>.",
// "cluster.<name>.". Every source counts them the same way: an attempt per response, then
// success (accepted), rejected (did not decode or the consumer refused it) or failure (no
// response: unreadable file, broken stream).
struct SubscriptionStats {
  SubscriptionStats(stats::Store& store, const std::string& prefix)
      : update_attempt(store.counter(prefix + "update_attempt")),
        update_success(store.counter(prefix + "update_success")),
        update_failure(store.counter(prefix + "update_failure")),
        update_rejected(store.counter(prefix + "update_rejected")),
        init_fetch_timeout(store.counter(prefix + "init_fetch_timeout")),
        version(store.gauge(prefix + "version")) {}

  stats::Counter& update_attempt;
  stats::Counter& update_success;
  stats::Counter& update_failure;
  stats::Counter& update_rejected;
  stats::Counter& init_fetch_timeout;
  // A hash of the accepted version_info, as Envoy's (its low 53 bits, to stay a gauge value).
  stats::Gauge& version;
};

}  // namespace remora::xds
