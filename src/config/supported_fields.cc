#include "config/supported_fields.h"

#include "common/assert.h"
#include "config/reflection_util.h"

namespace remora::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

struct Entry {
  std::string_view message;
  std::vector<std::string_view> fields;
};

// What this milestone's runtime honours. Enum restrictions name the values the runtime implements.
const std::vector<Entry>& builtinTable() {
  static const auto* table = new std::vector<Entry>{
      {"envoy.config.bootstrap.v3.Bootstrap",
       {"node", "static_resources", "dynamic_resources", "admin", "stats_flush_interval"}},
      // xDS (src/xds, src/grpc): one ADS stream over envoy_grpc to a static HTTP/2 cluster.
      // LDS and CDS (src/server/lds_api.*, src/upstream/cds_api.*) from any ConfigSource that
      // xds/subscription_factory.* can make (a file, or the ADS stream).
      {"envoy.config.bootstrap.v3.Bootstrap.DynamicResources",
       {"ads_config", "lds_config", "cds_config"}},
      {"envoy.config.core.v3.ApiConfigSource",
       {"api_type=GRPC|DELTA_GRPC", "transport_api_version=V3", "grpc_services",
        "set_node_on_first_message_only"}},
      {"envoy.config.core.v3.GrpcService", {"envoy_grpc"}},
      {"envoy.config.core.v3.GrpcService.EnvoyGrpc", {"cluster_name", "authority"}},
      {"envoy.config.core.v3.AggregatedConfigSource", {}},
      {"envoy.config.bootstrap.v3.Bootstrap.StaticResources", {"listeners", "clusters"}},
      {"envoy.config.bootstrap.v3.Admin", {"address"}},
      {"envoy.config.core.v3.Node", {"id", "cluster", "metadata", "locality"}},
      {"envoy.config.core.v3.Locality", {"region", "zone", "sub_zone"}},
      {"envoy.config.core.v3.Address", {"socket_address"}},
      {"envoy.config.core.v3.SocketAddress",
       {"address", "port_value", "protocol=TCP", "ipv4_compat"}},
      {"envoy.config.core.v3.CidrRange", {"address_prefix", "prefix_len"}},
      {"envoy.config.core.v3.TransportSocket", {"name", "typed_config"}},
      {"envoy.config.listener.v3.Listener",
       {"name", "address", "filter_chains", "default_filter_chain", "listener_filters",
        "listener_filters_timeout", "continue_on_listener_filters_timeout", "use_original_dst",
        "bind_to_port", "per_connection_buffer_limit_bytes", "traffic_direction", "drain_type"}},
      {"envoy.config.listener.v3.FilterChain",
       {"filter_chain_match", "filters", "name", "transport_socket"}},
      {"envoy.config.listener.v3.FilterChainMatch",
       {"destination_port", "prefix_ranges", "server_names", "transport_protocol",
        "application_protocols", "source_type", "source_prefix_ranges", "source_ports"}},
      {"envoy.config.listener.v3.ListenerFilter", {"name", "typed_config"}},
      {"envoy.config.listener.v3.Filter", {"name", "typed_config"}},
      {"envoy.config.cluster.v3.Cluster",
       {"name",
        "type=STATIC|STRICT_DNS|LOGICAL_DNS|EDS|ORIGINAL_DST",
        "connect_timeout",
        "lb_policy=ROUND_ROBIN|LEAST_REQUEST|RANDOM|RING_HASH|MAGLEV|CLUSTER_PROVIDED",
        "least_request_lb_config",
        "ring_hash_lb_config",
        "maglev_lb_config",
        "load_assignment",
        "per_connection_buffer_limit_bytes",
        "typed_extension_protocol_options",
        "outlier_detection",
        "circuit_breakers",
        "health_checks",
        "dns_refresh_rate",
        "dns_failure_refresh_rate",
        "respect_dns_ttl",
        "dns_lookup_family",
        "typed_dns_resolver_config",
        "eds_cluster_config",
        "common_lb_config",
        "original_dst_lb_config",
        "cleanup_interval",
        "upstream_bind_config"}},
      // ORIGINAL_DST (src/upstream/load_balancer.*, original_dst_hosts.*). Not honoured
      // (rejected): metadata_key, since no remora filter writes the dynamic metadata it reads.
      {"envoy.config.cluster.v3.Cluster.OriginalDstLbConfig",
       {"use_http_header", "http_header_name", "upstream_port_override"}},
      // Cluster.upstream_bind_config: the source every upstream connection binds to.
      {"envoy.config.core.v3.BindConfig", {"source_address"}},
      // Service discovery (src/upstream/dns_cluster.*, eds_subscription.*): c-ares resolvers, and
      // EDS from a file or the ADS stream. Other config sources (REST, per-type gRPC) are not
      // implemented.
      {"envoy.config.cluster.v3.Cluster.RefreshRate", {"base_interval", "max_interval"}},
      {"envoy.config.cluster.v3.Cluster.EdsClusterConfig", {"eds_config", "service_name"}},
      {"envoy.config.core.v3.ConfigSource",
       {"path", "path_config_source", "ads", "initial_fetch_timeout", "resource_api_version=V3"}},
      {"envoy.config.core.v3.PathConfigSource", {"path", "watched_directory"}},
      {"envoy.config.core.v3.WatchedDirectory", {"path"}},
      {"envoy.config.core.v3.TypedExtensionConfig", {"name", "typed_config"}},
      {"envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig",
       {"resolvers", "dns_resolver_options"}},
      {"envoy.config.core.v3.DnsResolverOptions",
       {"use_tcp_for_dns_lookups", "no_default_search_domain"}},
      // Priorities and localities (src/upstream/priority_load.*, priority_lb.*).
      {"envoy.config.cluster.v3.Cluster.CommonLbConfig",
       {"healthy_panic_threshold", "locality_weighted_lb_config"}},
      {"envoy.config.cluster.v3.Cluster.CommonLbConfig.LocalityWeightedLbConfig", {}},
      {"envoy.config.endpoint.v3.ClusterLoadAssignment.Policy", {"overprovisioning_factor"}},
      // Outlier detection (src/upstream/outlier_detection*). Not honoured (rejected): monitors.
      {"envoy.config.cluster.v3.OutlierDetection",
       {"consecutive_5xx",
        "interval",
        "base_ejection_time",
        "max_ejection_percent",
        "enforcing_consecutive_5xx",
        "enforcing_success_rate",
        "success_rate_minimum_hosts",
        "success_rate_request_volume",
        "success_rate_stdev_factor",
        "consecutive_gateway_failure",
        "enforcing_consecutive_gateway_failure",
        "split_external_local_origin_errors",
        "consecutive_local_origin_failure",
        "enforcing_consecutive_local_origin_failure",
        "enforcing_local_origin_success_rate",
        "failure_percentage_threshold",
        "enforcing_failure_percentage",
        "enforcing_failure_percentage_local_origin",
        "failure_percentage_minimum_hosts",
        "failure_percentage_request_volume",
        "max_ejection_time",
        "max_ejection_time_jitter",
        "always_eject_one_host",
        "successful_active_health_check_uneject_host"}},
      // Circuit breakers (src/upstream/resource_manager.*). per_host_thresholds and
      // max_connection_pools are not implemented.
      {"envoy.config.cluster.v3.CircuitBreakers", {"thresholds"}},
      {"envoy.config.cluster.v3.CircuitBreakers.Thresholds",
       {"priority", "max_connections", "max_pending_requests", "max_requests", "max_retries",
        "retry_budget", "track_remaining"}},
      {"envoy.config.cluster.v3.CircuitBreakers.Thresholds.RetryBudget",
       {"budget_percent", "min_retry_concurrency"}},
      // Active health checking (src/upstream/*health_checker*). Not implemented: alt_port,
      // custom_health_check, no_traffic_healthy_interval, event logging, tls_options,
      // transport_socket_match_criteria; for HTTP: send/receive bodies, request_headers_to_remove,
      // service_name_matcher, method.
      {"envoy.config.core.v3.HealthCheck",
       {"timeout", "interval", "initial_jitter", "interval_jitter", "interval_jitter_percent",
        "unhealthy_threshold", "healthy_threshold", "reuse_connection", "http_health_check",
        "tcp_health_check", "grpc_health_check", "no_traffic_interval", "unhealthy_interval",
        "unhealthy_edge_interval", "healthy_edge_interval"}},
      {"envoy.config.core.v3.HealthCheck.HttpHealthCheck",
       {"host", "path", "request_headers_to_add", "expected_statuses", "retriable_statuses",
        "codec_client_type=HTTP1|HTTP2"}},
      {"envoy.config.core.v3.HealthCheck.TcpHealthCheck", {"send", "receive"}},
      {"envoy.config.core.v3.HealthCheck.Payload", {"text", "binary"}},
      {"envoy.config.core.v3.HealthCheck.GrpcHealthCheck",
       {"service_name", "authority", "initial_metadata"}},
      // Load balancers (src/upstream/*_lb.*, lb_config.cc). slow_start_config is not implemented.
      {"envoy.config.cluster.v3.Cluster.LeastRequestLbConfig",
       {"choice_count", "active_request_bias"}},
      {"envoy.config.cluster.v3.Cluster.RingHashLbConfig",
       {"minimum_ring_size", "maximum_ring_size", "hash_function"}},
      {"envoy.config.cluster.v3.Cluster.MaglevLbConfig", {"table_size"}},
      // No runtime layer: runtime_key is accepted (it is required) and default_value applies.
      {"envoy.config.core.v3.RuntimeDouble", {"default_value", "runtime_key"}},
      {"envoy.config.endpoint.v3.ClusterLoadAssignment", {"cluster_name", "endpoints", "policy"}},
      {"envoy.config.endpoint.v3.LocalityLbEndpoints",
       {"locality", "lb_endpoints", "load_balancing_weight", "priority"}},
      {"envoy.config.endpoint.v3.LbEndpoint",
       {"endpoint", "load_balancing_weight",
        "health_status=UNKNOWN|HEALTHY|UNHEALTHY|DRAINING|TIMEOUT|DEGRADED"}},
      {"envoy.config.endpoint.v3.Endpoint", {"address", "hostname"}},
      {"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
       {"stat_prefix", "cluster", "weighted_clusters", "idle_timeout", "max_connect_attempts",
        "access_log"}},
      {"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster", {"clusters"}},
      {"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight",
       {"name", "weight"}},
      // The route table (src/router/): what RouteConfig::create() honours.
      {"envoy.config.route.v3.RouteConfiguration",
       {"name", "virtual_hosts", "request_headers_to_add", "request_headers_to_remove",
        "response_headers_to_add", "response_headers_to_remove",
        "most_specific_header_mutations_wins", "validate_clusters", "ignore_port_in_host_matching",
        "typed_per_filter_config"}},
      {"envoy.config.route.v3.VirtualHost",
       {"name", "domains", "routes", "request_headers_to_add", "request_headers_to_remove",
        "response_headers_to_add", "response_headers_to_remove", "typed_per_filter_config"}},
      {"envoy.config.route.v3.Route",
       {"name", "match", "route", "redirect", "direct_response", "typed_per_filter_config",
        "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add",
        "response_headers_to_remove"}},
      {"envoy.config.route.v3.RouteMatch",
       {"prefix", "path", "safe_regex", "path_separated_prefix", "connect_matcher",
        "case_sensitive", "headers", "query_parameters", "runtime_fraction", "grpc"}},
      {"envoy.config.route.v3.RouteMatch.GrpcRouteMatchOptions", {}},
      {"envoy.config.route.v3.RouteMatch.ConnectMatcher", {}},
      // Shared with the access log's header_filter. The deprecated *_match fields are still
      // generated by control planes and Envoy still honours them, so both consumers do too.
      {"envoy.config.route.v3.HeaderMatcher",
       {"name", "string_match", "present_match", "range_match", "invert_match",
        "treat_missing_header_as_empty", "exact_match", "safe_regex_match", "prefix_match",
        "suffix_match", "contains_match"}},
      {"envoy.config.route.v3.QueryParameterMatcher", {"name", "string_match", "present_match"}},
      {"envoy.config.route.v3.RouteAction",
       {"cluster", "cluster_header", "weighted_clusters", "prefix_rewrite", "regex_rewrite",
        "host_rewrite_literal", "auto_host_rewrite", "timeout", "idle_timeout", "retry_policy",
        "request_mirror_policies", "upgrade_configs", "hash_policy", "max_grpc_timeout",
        "grpc_timeout_offset", "priority"}},
      // Route hash policies for RING_HASH and MAGLEV (src/router/hash_policy.*); filter_state is
      // not implemented (remora has no filter state objects).
      {"envoy.config.route.v3.RouteAction.HashPolicy",
       {"header", "cookie", "connection_properties", "query_parameter", "terminal"}},
      {"envoy.config.route.v3.RouteAction.HashPolicy.Header", {"header_name", "regex_rewrite"}},
      {"envoy.config.route.v3.RouteAction.HashPolicy.Cookie",
       {"name", "ttl", "path", "attributes"}},
      {"envoy.config.route.v3.RouteAction.HashPolicy.CookieAttribute", {"name", "value"}},
      {"envoy.config.route.v3.RouteAction.HashPolicy.ConnectionProperties", {"source_ip"}},
      {"envoy.config.route.v3.RouteAction.HashPolicy.QueryParameter", {"name"}},
      {"envoy.config.route.v3.RouteAction.UpgradeConfig",
       {"upgrade_type", "enabled", "connect_config"}},
      // CONNECT terminated by the router (src/upstream/tcp_upstream.*): no PROXY protocol header,
      // no POST tunnels.
      {"envoy.config.route.v3.RouteAction.UpgradeConfig.ConnectConfig", {}},
      {"envoy.config.route.v3.RouteAction.RequestMirrorPolicy",
       {"cluster", "cluster_header", "runtime_fraction", "disable_shadow_host_suffix_append"}},
      {"envoy.config.route.v3.WeightedCluster", {"clusters", "total_weight"}},
      {"envoy.config.route.v3.WeightedCluster.ClusterWeight", {"name", "weight"}},
      {"envoy.config.route.v3.RetryPolicy",
       {"retry_on", "num_retries", "per_try_timeout", "retry_back_off", "retriable_status_codes",
        "retry_host_predicate", "host_selection_retry_max_attempts"}},
      {"envoy.config.route.v3.RetryPolicy.RetryBackOff", {"base_interval", "max_interval"}},
      {"envoy.config.route.v3.RetryPolicy.RetryHostPredicate", {"name", "typed_config"}},
      {"envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate", {}},
      {"envoy.config.route.v3.RedirectAction",
       {"https_redirect", "scheme_redirect", "host_redirect", "port_redirect", "path_redirect",
        "prefix_rewrite", "regex_rewrite", "response_code", "strip_query"}},
      {"envoy.config.route.v3.DirectResponseAction", {"status", "body"}},
      {"envoy.config.core.v3.DataSource", {"inline_string", "inline_bytes"}},
      {"envoy.config.core.v3.HeaderValueOption",
       {"header", "append", "append_action", "keep_empty_value"}},
      {"envoy.config.core.v3.HeaderValue", {"key", "value"}},
      {"envoy.config.core.v3.RuntimeFractionalPercent", {"default_value", "runtime_key"}},
      {"envoy.type.v3.FractionalPercent", {"numerator", "denominator"}},
      {"envoy.type.v3.Int64Range", {"start", "end"}},
      {"envoy.type.matcher.v3.StringMatcher",
       {"exact", "prefix", "suffix", "contains", "safe_regex", "ignore_case"}},
      {"envoy.type.matcher.v3.RegexMatcher", {"regex", "google_re2"}},
      {"envoy.type.matcher.v3.RegexMatcher.GoogleRE2", {}},
      {"envoy.type.matcher.v3.RegexMatchAndSubstitute", {"pattern", "substitution"}},
      {"envoy.extensions.filters.listener.original_dst.v3.OriginalDst", {}},
      // Listener inspectors (src/filters/listener/): SNI/ALPN and HTTP/1.x-vs-h2c by peeking.
      {"envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", {}},
      {"envoy.extensions.filters.listener.http_inspector.v3.HttpInspector", {}},
      {"envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer", {}},
      // Access logs (src/access_log/).
      {"envoy.config.accesslog.v3.AccessLog", {"name", "typed_config", "filter"}},
      {"envoy.config.accesslog.v3.AccessLogFilter",
       {"status_code_filter", "duration_filter", "not_health_check_filter", "response_flag_filter",
        "header_filter", "and_filter", "or_filter"}},
      {"envoy.config.accesslog.v3.StatusCodeFilter", {"comparison"}},
      {"envoy.config.accesslog.v3.DurationFilter", {"comparison"}},
      {"envoy.config.accesslog.v3.ComparisonFilter", {"op", "value"}},
      // No runtime layer: runtime_key is accepted (it is required) and default_value applies.
      {"envoy.config.core.v3.RuntimeUInt32", {"default_value", "runtime_key"}},
      {"envoy.config.accesslog.v3.NotHealthCheckFilter", {}},
      {"envoy.config.accesslog.v3.ResponseFlagFilter", {"flags"}},
      {"envoy.config.accesslog.v3.HeaderFilter", {"header"}},
      {"envoy.config.accesslog.v3.AndFilter", {"filters"}},
      {"envoy.config.accesslog.v3.OrFilter", {"filters"}},
      {"envoy.extensions.access_loggers.file.v3.FileAccessLog",
       {"path", "log_format", "json_format", "typed_json_format"}},
      {"envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", {"log_format"}},
      {"envoy.extensions.access_loggers.stream.v3.StderrAccessLog", {"log_format"}},
      {"envoy.config.core.v3.SubstitutionFormatString",
       {"text_format", "json_format", "text_format_source", "omit_empty_values", "content_type",
        "json_format_options"}},
      {"envoy.config.core.v3.JsonFormatOptions", {"sort_properties"}},
      // The HTTP connection manager and its filters (src/filters/network/http_connection_manager/).
      {"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
       {"stat_prefix",
        "codec_type=AUTO|HTTP1|HTTP2",
        "route_config",
        "rds",
        "http_filters",
        "server_name",
        "use_remote_address",
        "xff_num_trusted_hops",
        "generate_request_id",
        "stream_idle_timeout",
        "request_timeout",
        "request_headers_timeout",
        "common_http_protocol_options",
        "http_protocol_options",
        "http2_protocol_options",
        "max_request_headers_kb",
        "access_log",
        "normalize_path",
        "merge_slashes",
        "upgrade_configs",
        "drain_timeout"}},
      {"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager."
       "UpgradeConfig",
       {"upgrade_type", "enabled"}},
      // RDS (src/router/rds.*).
      {"envoy.extensions.filters.network.http_connection_manager.v3.Rds",
       {"config_source", "route_config_name"}},
      {"envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
       {"name", "typed_config"}},
      {"envoy.config.core.v3.HttpProtocolOptions",
       {"idle_timeout", "max_headers_count", "max_connection_duration",
        "max_requests_per_connection"}},
      {"envoy.config.core.v3.Http1ProtocolOptions",
       {"accept_http_10", "default_host_for_http_10", "enable_trailers"}},
      // The HTTP/2 codec (src/http/http2/): the SETTINGS remora sends (allow_connect advertises
      // RFC 8441 extended CONNECT) and PING keepalive.
      {"envoy.config.core.v3.Http2ProtocolOptions",
       {"hpack_table_size", "max_concurrent_streams", "initial_stream_window_size",
        "initial_connection_window_size", "allow_connect", "connection_keepalive"}},
      // connection_idle_interval (a PING before reusing an idle upstream connection) is not
      // implemented.
      {"envoy.config.core.v3.KeepaliveSettings", {"interval", "timeout", "interval_jitter"}},
      {"envoy.extensions.filters.http.router.v3.Router", {}},
      // CORS (src/filters/http/cors/): the filter config is empty, the policy comes per route.
      // RouteAction.cors and VirtualHost.cors (deprecated) stay unsupported.
      {"envoy.extensions.filters.http.cors.v3.Cors", {}},
      {"envoy.extensions.filters.http.cors.v3.CorsPolicy",
       {"allow_origin_string_match", "allow_methods", "allow_headers", "expose_headers", "max_age",
        "allow_credentials", "filter_enabled", "shadow_enabled", "allow_private_network_access",
        "forward_not_matching_preflights"}},
      {"envoy.extensions.filters.http.health_check.v3.HealthCheck",
       {"pass_through_mode", "cache_time", "cluster_min_healthy_percentages", "headers"}},
      {"envoy.type.v3.Percent", {"value"}},
      {"envoy.extensions.filters.http.buffer.v3.Buffer", {"max_request_bytes"}},
      {"envoy.extensions.filters.http.buffer.v3.BufferPerRoute", {"disabled", "buffer"}},
      // envoy.filters.http.fault (src/filters/http/fault/). No runtime layer: the *_runtime keys
      // are accepted and the config's values apply, as in Envoy when the keys are not set.
      {"envoy.extensions.filters.http.fault.v3.HTTPFault",
       {"delay", "abort", "upstream_cluster", "headers", "downstream_nodes", "max_active_faults",
        "response_rate_limit", "delay_percent_runtime", "abort_percent_runtime",
        "delay_duration_runtime", "abort_http_status_runtime", "max_active_faults_runtime",
        "response_rate_limit_percent_runtime", "abort_grpc_status_runtime",
        "disable_downstream_cluster_stats"}},
      {"envoy.extensions.filters.http.fault.v3.FaultAbort",
       {"http_status", "grpc_status", "header_abort", "percentage"}},
      {"envoy.extensions.filters.http.fault.v3.FaultAbort.HeaderAbort", {}},
      {"envoy.extensions.filters.common.fault.v3.FaultDelay",
       {"fixed_delay", "header_delay", "percentage"}},
      {"envoy.extensions.filters.common.fault.v3.FaultDelay.HeaderDelay", {}},
      {"envoy.extensions.filters.common.fault.v3.FaultRateLimit",
       {"fixed_limit", "header_limit", "percentage"}},
      {"envoy.extensions.filters.common.fault.v3.FaultRateLimit.FixedLimit", {"limit_kbps"}},
      {"envoy.extensions.filters.common.fault.v3.FaultRateLimit.HeaderLimit", {}},
      // envoy.filters.http.local_ratelimit (src/filters/http/local_ratelimit/). Descriptors (and
      // stage, vh_rate_limits, which only select them) and local_cluster_rate_limit are not
      // implemented; always_consume_default_token_bucket only matters with descriptors.
      {"envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
       {"stat_prefix", "status", "token_bucket", "filter_enabled", "filter_enforced",
        "request_headers_to_add_when_not_enforced", "response_headers_to_add",
        "local_rate_limit_per_downstream_connection", "enable_x_ratelimit_headers",
        "always_consume_default_token_bucket", "rate_limited_as_resource_exhausted"}},
      {"envoy.type.v3.HttpStatus", {"code"}},
      {"envoy.type.v3.TokenBucket", {"max_tokens", "tokens_per_fill", "fill_interval"}},
      // gRPC filters (src/filters/http/grpc_stats/, src/filters/http/grpc_web/).
      // emit_filter_state is not implemented (no filter state objects in remora yet).
      {"envoy.extensions.filters.http.grpc_stats.v3.FilterConfig",
       {"individual_method_stats_allowlist", "stats_for_all_methods", "enable_upstream_stats",
        "replace_dots_in_grpc_service_name"}},
      {"envoy.config.core.v3.GrpcMethodList", {"services"}},
      {"envoy.config.core.v3.GrpcMethodList.Service", {"name", "method_names"}},
      {"envoy.extensions.filters.http.grpc_web.v3.GrpcWeb", {}},
      {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
       {"common_http_protocol_options", "explicit_http_config", "use_downstream_protocol_config"}},
      {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig",
       {"http_protocol_options", "http2_protocol_options"}},
      {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions.UseDownstreamHttpConfig",
       {"http_protocol_options", "http2_protocol_options"}},
  };
  return *table;
}

// Messages that are plain values: whatever is set in them is honoured by whoever honours the field.
constexpr std::string_view kValueMessages[] = {
    "google.protobuf.Duration",    "google.protobuf.Timestamp",   "google.protobuf.Struct",
    "google.protobuf.Value",       "google.protobuf.ListValue",   "google.protobuf.Empty",
    "google.protobuf.DoubleValue", "google.protobuf.FloatValue",  "google.protobuf.Int64Value",
    "google.protobuf.UInt64Value", "google.protobuf.Int32Value",  "google.protobuf.UInt32Value",
    "google.protobuf.BoolValue",   "google.protobuf.StringValue", "google.protobuf.BytesValue",
};

const Descriptor* findDescriptor(std::string_view message) {
  const Descriptor* d = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
      std::string(message));
  RELEASE_ASSERT(d != nullptr, "supported-fields table names an unknown message");
  return d;
}

class SupportChecker {
 public:
  explicit SupportChecker(const SupportedFields& table) : table_(table) {}
  Status walk(const Message& m, const std::string& path, int depth);

 private:
  Status walkValue(const Message& m, const std::string& path, int depth);
  Status checkEnum(const Message& m, const FieldDescriptor* f, const std::set<std::string>& allowed,
                   const std::string& path);
  const SupportedFields& table_;
};

Status SupportChecker::walkValue(const Message& m, const std::string& path, int depth) {
  if (isAny(m.GetDescriptor())) {
    auto inner = unpackAny(m);
    if (inner == nullptr) return Status::error("not supported by remora: " + path);
    return walk(*inner, path, depth + 1);
  }
  return walk(m, path, depth + 1);
}

Status SupportChecker::checkEnum(const Message& m, const FieldDescriptor* f,
                                 const std::set<std::string>& allowed, const std::string& path) {
  const auto* reflection = m.GetReflection();
  auto check = [&](int number, const std::string& item_path) {
    const auto* value = f->enum_type()->FindValueByNumber(number);
    std::string name = value != nullptr ? value->name() : std::to_string(number);
    if (allowed.count(name) == 0)
      return Status::error("not supported by remora: " + item_path + ": " + name);
    return Status();
  };
  if (!f->is_repeated()) return check(reflection->GetEnumValue(m, f), path);
  for (int i = 0; i < reflection->FieldSize(m, f); ++i) {
    RETURN_IF_ERROR(check(reflection->GetRepeatedEnumValue(m, f, i), indexPath(path, i)));
  }
  return Status();
}

Status SupportChecker::walk(const Message& m, const std::string& path, int depth) {
  if (depth > 100) return Status::error(path + ": nesting deeper than 100 levels");
  const Descriptor* d = m.GetDescriptor();
  const MessageSupport* support = table_.find(d->full_name());
  if (support != nullptr && support->all_fields) return Status();
  const auto* reflection = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (!isFieldSet(m, f)) continue;
    const std::string field_path = joinPath(path, f->name());
    if (support == nullptr || support->fields.count(f->name()) == 0) {
      return Status::error("not supported by remora: " + field_path);
    }
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      auto allowed = support->enum_values.find(f->name());
      if (allowed != support->enum_values.end()) {
        RETURN_IF_ERROR(checkEnum(m, f, allowed->second, field_path));
      }
      continue;
    }
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_map()) {
      const FieldDescriptor* value_field = f->message_type()->map_value();
      if (value_field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
      for (int j = 0; j < reflection->FieldSize(m, f); ++j) {
        const Message& entry = reflection->GetRepeatedMessage(m, f, j);
        RETURN_IF_ERROR(walkValue(entry.GetReflection()->GetMessage(entry, value_field),
                                  keyPath(field_path, mapKeyText(entry)), depth));
      }
    } else if (f->is_repeated()) {
      for (int j = 0; j < reflection->FieldSize(m, f); ++j) {
        RETURN_IF_ERROR(
            walkValue(reflection->GetRepeatedMessage(m, f, j), indexPath(field_path, j), depth));
      }
    } else {
      RETURN_IF_ERROR(walkValue(reflection->GetMessage(m, f), field_path, depth));
    }
  }
  return Status();
}

}  // namespace

SupportedFields& SupportedFields::get() {
  static SupportedFields* instance = new SupportedFields();
  return *instance;
}

SupportedFields::SupportedFields() {
  for (std::string_view name : kValueMessages) addAll(name);
  for (const Entry& entry : builtinTable()) add(entry.message, entry.fields);
}

void SupportedFields::add(std::string_view message,
                          const std::vector<std::string_view>& field_specs) {
  const Descriptor* d = findDescriptor(message);
  MessageSupport& support = messages_[std::string(message)];
  for (std::string_view spec : field_specs) {
    auto eq = spec.find('=');
    std::string field(spec.substr(0, eq));
    const FieldDescriptor* f = d->FindFieldByName(field);
    RELEASE_ASSERT(f != nullptr, "supported-fields table names an unknown field");
    support.fields.insert(field);
    if (eq == std::string_view::npos) continue;
    RELEASE_ASSERT(f->enum_type() != nullptr, "enum restriction on a non-enum field");
    auto& allowed = support.enum_values[field];
    std::string_view values = spec.substr(eq + 1);
    while (!values.empty()) {
      auto bar = values.find('|');
      std::string value(values.substr(0, bar));
      RELEASE_ASSERT(f->enum_type()->FindValueByName(value) != nullptr,
                     "unknown enum value in table");
      allowed.insert(value);
      values = bar == std::string_view::npos ? std::string_view() : values.substr(bar + 1);
    }
  }
}

void SupportedFields::addAll(std::string_view message) {
  findDescriptor(message);
  messages_[std::string(message)].all_fields = true;
}

const MessageSupport* SupportedFields::find(std::string_view message) const {
  auto it = messages_.find(message);
  return it == messages_.end() ? nullptr : &it->second;
}

std::vector<std::string> SupportedFields::messages() const {
  std::vector<std::string> out;
  for (const auto& [name, support] : messages_) out.push_back(name);
  return out;
}

Status checkSupportedFields(const Message& config) {
  return SupportChecker(SupportedFields::get()).walk(config, "", 0);
}

}  // namespace remora::config
