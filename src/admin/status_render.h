#pragma once

#include <google/protobuf/message.h>

#include <map>
#include <string>

#include "common/status.h"
#include "envoy/admin/v3/clusters.pb.h"
#include "envoy/admin/v3/listeners.pb.h"
#include "envoy/config/core/v3/address.pb.h"
#include "server/instance.h"

namespace remora::admin {

// A proto as JSON the way Envoy's admin prints it: proto field names (snake_case), pretty, Any
// with "@type" resolved against the generated descriptor pool. `always_print_primitive_fields` is
// what /server_info uses.
StatusOr<std::string> toAdminJson(const google::protobuf::Message& message,
                                  bool always_print_primitive_fields = false);

// Envoy's /clusters text: for a cluster in `outlier` first its four
// "<cluster>::outlier::{,local_origin_}success_rate_{average,ejection_threshold}::<v>" lines, then
// "<cluster>::default_priority::max_connections::1024", ...,
// "<cluster>::added_via_api::false", then per host "<cluster>::<ip:port>::<stat>::<value>" for its
// stats in name order followed by hostname, health_flags, weight, region, zone, sub_zone, canary,
// priority, success_rate and local_origin_success_rate.
std::string renderClustersText(
    const envoy::admin::v3::Clusters& clusters,
    const std::map<std::string, server::Instance::OutlierFigures>& outlier = {});

// Envoy's /listeners text: "<name>::<address>" per listener.
std::string renderListenersText(const envoy::admin::v3::Listeners& listeners);

// "10.0.0.1:80", "[::1]:80", or a pipe's path: Envoy's Address::asString().
std::string addressToString(const envoy::config::core::v3::Address& address);

}  // namespace remora::admin
