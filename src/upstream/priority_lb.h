#pragma once

#include <string>

#include "upstream/load_balancer.h"

namespace remora::upstream {

// Envoy's priority and locality step in front of the policy's balancer. Per pick: a draw in
// [0, 100) picks the priority level by the snapshot's priority load (the request's hash for
// RING_HASH and MAGLEV, so a key keeps its level); a level in panic balances over all of its
// hosts and counts lb_healthy_panic; otherwise, with locality weighted balancing, a locality is
// picked by effective weight (smooth weighted round robin per worker) and its balancer picks
// among its healthy hosts; else the level's balancer picks among its healthy hosts. A draw that
// falls on a level's degraded load (healthy hosts short everywhere) picks among its degraded
// hosts.
// The per-level and per-locality factories are built once per snapshot and shared by workers.
LoadBalancerFactoryConstSharedPtr createPriorityLoadBalancerFactory(const Cluster& cluster,
                                                                    stats::Store& store,
                                                                    const std::string& prefix);

}  // namespace remora::upstream
