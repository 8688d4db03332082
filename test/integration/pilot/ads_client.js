// A scripted ADS client for remora-pilot tests, standing in for a sidecar proxy. Like Envoy, it
// subscribes to LDS and CDS (wildcard), then to EDS for every cluster and RDS for every route
// config name the listeners reference, ACKing each response with its nonce.
//   node ads_client.js <host:port> <sotw|delta> <node id> [--grpc] [--nack <type>=<message>]
// <type> is lds, rds, cds or eds; a NACK answers that type's responses with error_detail.
// Every response is printed as one JSON line:
//   {"type": "cds", "version": "3", "nonce": "5", "resources": {name: {...}}, "removed": [...]}
'use strict';
const path = require('path');
const nodeModules = path.join(__dirname, '..', '..', 'node', 'node_modules');
const grpc = require(path.join(nodeModules, '@grpc', 'grpc-js'));
const protoLoader = require(path.join(nodeModules, '@grpc', 'proto-loader'));
const protobuf = require(path.join(nodeModules, 'protobufjs'));

const deps = path.join(nodeModules, '@grpc', 'grpc-js-xds', 'deps');
const includeDirs = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(deps, d));
const types = {
  lds: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  rds: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cds: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  eds: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
};
const shortType = Object.fromEntries(Object.entries(types).map(([k, v]) => [v, k]));

// protobufjs decodes the Any payloads (and the Anys nested in them) into JSON.
const root = new protobuf.Root();
root.resolvePath = (origin, target) => {
  for (const dir of includeDirs) {
    const p = path.join(dir, target);
    if (require('fs').existsSync(p)) return p;
  }
  return target;
};
root.loadSync([
  'envoy/config/listener/v3/listener.proto', 'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto', 'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
], {keepCase: true});
root.resolveAll();

function decodeAny(any) {
  const name = any.type_url.slice(any.type_url.indexOf('/') + 1);
  const type = root.lookupType(name);
  const message = type.decode(any.value);
  return unpackNested(type.toObject(message, {longs: Number, enums: String, defaults: false}));
}
// typed_config and friends: decode nested Anys so tests can read them.
function unpackNested(value) {
  if (Array.isArray(value)) return value.map(unpackNested);
  if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
    if (typeof value.type_url === 'string' && value.value !== undefined) {
      try { return {'@type': value.type_url, ...decodeAny(value)}; } catch (e) { return value; }
    }
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = unpackNested(v);
    return out;
  }
  return value;
}

const [address, mode, nodeId, ...rest] = process.argv.slice(2);
const nacks = {};
let grpcGenerator = false;
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === '--grpc') grpcGenerator = true;
  if (rest[i] === '--nack') {
    const [t, msg] = rest[++i].split('=');
    nacks[t] = msg;
  }
}
const definition = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto',
                                        {keepCase: true, longs: Number, includeDirs});
const Ads = grpc.loadPackageDefinition(definition).envoy.service.discovery.v3.AggregatedDiscoveryService;
const client = new Ads(address, grpc.credentials.createInsecure());
const delta = mode === 'delta';
const stream = delta ? client.DeltaAggregatedResources() : client.StreamAggregatedResources();
const node = {id: nodeId, metadata: {fields: grpcGenerator ? {GENERATOR: {string_value: 'grpc'}} : {}}};
const subscribed = {lds: new Set(), rds: new Set(), cds: new Set(), eds: new Set()};
const lastVersion = {};
let sentNode = false;

function request(t, extra) {
  const r = {type_url: types[t], ...extra};
  if (!sentNode) { r.node = node; sentNode = true; }
  stream.write(r);
}
function subscribe(t, names) {
  const added = names.filter((n) => !subscribed[t].has(n));
  if (!added.length) return;
  for (const n of added) subscribed[t].add(n);
  if (delta) request(t, {resource_names_subscribe: added});
  else request(t, {resource_names: [...subscribed[t]], version_info: lastVersion[t] || ''});
}

stream.on('data', (response) => {
  const t = shortType[response.type_url];
  const resources = {};
  if (delta) {
    for (const r of response.resources || []) resources[r.name] = decodeAny(r.resource);
  } else {
    for (const any of response.resources || []) {
      const decoded = decodeAny(any);
      resources[decoded.name || decoded.cluster_name] = decoded;
    }
  }
  console.log(JSON.stringify({type: t, version: delta ? response.system_version_info : response.version_info,
                              nonce: response.nonce, resources, removed: response.removed_resources || []}));
  const ack = {response_nonce: response.nonce};
  if (nacks[t]) ack.error_detail = {code: 3, message: nacks[t]};
  else lastVersion[t] = response.version_info;
  if (delta) request(t, ack);
  else request(t, {...ack, resource_names: [...subscribed[t]], version_info: lastVersion[t] || ''});
  if (nacks[t]) return;
  // Follow references as Envoy does: clusters → EDS, listeners → RDS.
  if (t === 'cds') subscribe('eds', Object.values(resources).filter((c) => c.type === 'EDS').map((c) => c.name));
  if (t === 'lds') {
    const routes = [];
    for (const l of Object.values(resources)) {
      const hcms = l.api_listener ? [l.api_listener.api_listener] :
          (l.filter_chains || []).flatMap((fc) => (fc.filters || []).map((f) => f.typed_config));
      for (const h of hcms) if (h && h.rds) routes.push(h.rds.route_config_name);
    }
    subscribe('rds', routes);
  }
});
stream.on('error', (e) => { console.log(JSON.stringify({error: e.code, details: e.details})); process.exit(0); });
stream.on('end', () => process.exit(0));
if (grpcGenerator) {
  // Proxyless clients name what they want; the listener names come from argv via --listen.
  const wanted = (process.env.ADS_LISTENERS || '').split(',').filter(Boolean);
  subscribe('lds', wanted);
} else {
  if (delta) { request('cds', {}); request('lds', {}); }
  else { request('cds', {resource_names: []}); request('lds', {resource_names: []}); }
}
process.on('SIGTERM', () => { stream.end(); process.exit(0); });
