#include "upstream/resource_manager.h"

#include <algorithm>

namespace remora::upstream {

bool Resource::tryAcquire() {
  uint64_t current = count_.load(std::memory_order_relaxed);
  do {
    if (current >= max()) return false;
  } while (!count_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
  manager_.onChange(*this);
  return true;
}

void Resource::acquire() {
  count_.fetch_add(1, std::memory_order_relaxed);
  manager_.onChange(*this);
}

void Resource::release() {
  count_.fetch_sub(1, std::memory_order_relaxed);
  manager_.onChange(*this);
}

ResourceManager::Limits ResourceManager::Limits::fromProto(
    const envoy::config::cluster::v3::CircuitBreakers& proto, ResourcePriority priority) {
  Limits limits;
  const auto wanted = priority == ResourcePriority::High ? envoy::config::core::v3::HIGH
                                                         : envoy::config::core::v3::DEFAULT;
  for (const auto& t : proto.thresholds()) {
    if (t.priority() != wanted) continue;
    if (t.has_max_connections()) limits.max_connections = t.max_connections().value();
    if (t.has_max_pending_requests())
      limits.max_pending_requests = t.max_pending_requests().value();
    if (t.has_max_requests()) limits.max_requests = t.max_requests().value();
    if (t.has_max_retries()) limits.max_retries = t.max_retries().value();
    if (t.has_retry_budget()) {
      // Envoy's defaults for an empty retry_budget: 20% and 3.
      const auto& budget = t.retry_budget();
      limits.budget_percent = budget.has_budget_percent() ? budget.budget_percent().value() : 20.0;
      limits.min_retry_concurrency =
          budget.has_min_retry_concurrency() ? budget.min_retry_concurrency().value() : 3;
    }
    limits.track_remaining = t.track_remaining();
    break;  // Envoy uses the first thresholds entry for a priority
  }
  return limits;
}

uint64_t ResourceManager::retryBudgetMax(double budget_percent, uint32_t min_retry_concurrency,
                                         uint64_t active_and_pending) {
  const auto budget =
      static_cast<uint64_t>(budget_percent / 100.0 * static_cast<double>(active_and_pending));
  return std::max<uint64_t>(budget, min_retry_concurrency);
}

uint64_t ResourceManager::RetryResource::max() const {
  const Limits& limits = manager_.limits_;
  if (!limits.budget_percent) return Resource::max();
  return retryBudgetMax(*limits.budget_percent, *limits.min_retry_concurrency,
                        manager_.requests_.count() + manager_.pending_requests_.count());
}

void ResourceManager::SharedGauge::publish(int64_t value) {
  const int64_t previous = published.exchange(value, std::memory_order_relaxed);
  if (value != previous) gauge->add(value - previous);
}

ResourceManager::ResourceManager(const Limits& limits, stats::Store& store,
                                 const std::string& stat_prefix)
    : limits_(limits),
      connections_(*this, limits.max_connections),
      pending_requests_(*this, limits.max_pending_requests),
      requests_(*this, limits.max_requests),
      retries_(*this, limits.max_retries) {
  // Envoy makes the open gauges always and the remaining ones with track_remaining; remaining
  // starts at the maximum.
  struct Names {
    ResourceGauges& gauges;
    const char* open;
    const char* remaining;
    Resource& resource;
  };
  for (auto& [gauges, open, remaining, resource] :
       {Names{cx_gauges_, "cx_open", "remaining_cx", connections_},
        Names{pending_gauges_, "rq_pending_open", "remaining_pending", pending_requests_},
        Names{rq_gauges_, "rq_open", "remaining_rq", requests_},
        Names{retry_gauges_, "rq_retry_open", "remaining_retries", retries_}}) {
    gauges.open.gauge = &store.gauge(stat_prefix + open);
    if (limits.track_remaining) gauges.remaining.gauge = &store.gauge(stat_prefix + remaining);
    // Set, not published: a cluster replaced by a config change left its values behind.
    gauges.open.gauge->set(0);
    if (gauges.remaining.gauge != nullptr) gauges.remaining.gauge->set(0);
    updateGauges(resource, gauges);
  }
}

void ResourceManager::onChange(const Resource& resource) {
  if (&resource == &connections_) {
    updateGauges(connections_, cx_gauges_);
  } else if (&resource == &pending_requests_) {
    updateGauges(pending_requests_, pending_gauges_);
  } else if (&resource == &requests_) {
    updateGauges(requests_, rq_gauges_);
  }
  // A retry budget moves with the requests too.
  if (&resource == &retries_ || limits_.budget_percent) updateGauges(retries_, retry_gauges_);
}

void ResourceManager::updateGauges(const Resource& resource, ResourceGauges& gauges) {
  // Another worker may change the count between reading it and publishing: publish again until
  // what was published matches what is now true.
  for (;;) {
    const uint64_t count = resource.count();
    const uint64_t max = resource.max();
    gauges.open.publish(count >= max ? 1 : 0);
    if (gauges.remaining.gauge != nullptr) {
      // Envoy keeps remaining_retries at 0 while a retry budget is in use.
      const bool budget = &resource == &retries_ && limits_.budget_percent.has_value();
      gauges.remaining.publish(budget || count >= max ? 0 : static_cast<int64_t>(max - count));
    }
    if (resource.count() == count && resource.max() == max) return;
  }
}

ClusterResourceManagers::ClusterResourceManagers(
    const envoy::config::cluster::v3::CircuitBreakers& proto, stats::Store& store,
    const std::string& cluster_name) {
  for (auto priority : {ResourcePriority::Default, ResourcePriority::High}) {
    const char* name = priority == ResourcePriority::High ? "high" : "default";
    managers_[static_cast<size_t>(priority)] = std::make_unique<ResourceManager>(
        ResourceManager::Limits::fromProto(proto, priority), store,
        "cluster." + cluster_name + ".circuit_breakers." + name + ".");
  }
}

}  // namespace remora::upstream
