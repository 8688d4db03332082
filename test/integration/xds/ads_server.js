// A scripted Aggregated Discovery Service (State of the World and Delta) on @grpc/grpc-js, for
// driving remora's xDS client. Usage: node ads_server.js <proto deps dir> <port, 0 = any>.
// Prints {"port": N} once bound, then one JSON line per event:
//   {"event": "open", "stream": id, "delta": bool}, {"event": "closed", "stream": id}
//   {"event": "request", "stream", "delta", "type_url", "version_info", "response_nonce",
//    "resource_names", "subscribe", "unsubscribe", "initial_resource_versions", "error_detail",
//    "node"}
//   {"event": "response", "stream", "type_url", "version", "nonce", "names", "removed"}
// and reads commands, one JSON object per line, on stdin:
//   {"op": "set", "type_url": T, "version": V, "resources": [<resource as JSON>...]}
//     replaces the type's resources (named by "name", or "cluster_name" for endpoints) and pushes
//     them to every stream that asked for the type: SotW sends the whole set, Delta the resources
//     given and the names no longer present as removed.
//   {"op": "close_streams"} ends every open stream with UNAVAILABLE.
'use strict';
const path = require('path');
const readline = require('readline');
const modules = path.join(__dirname, '..', '..', 'node', 'node_modules');
const grpc = require(path.join(modules, '@grpc', 'grpc-js'));
const protoLoader = require(path.join(modules, '@grpc', 'proto-loader'));
const protobuf = require(path.join(modules, 'protobufjs'));

const deps = process.argv[2];
const includeDirs = ['envoy-api', 'googleapis', 'xds', 'protoc-gen-validate'].map(
    (d) => path.join(deps, d));
const definition = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
  keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs,
});
const ads = grpc.loadPackageDefinition(definition).envoy.service.discovery.v3;

// protobufjs encodes the resources: it reads JSON objects with the proto's field names.
const root = new protobuf.Root();
root.resolvePath = (origin, target) => {
  const fs = require('fs');
  // protobufjs carries google/protobuf/descriptor.proto, which the annotations import.
  for (const dir of [...includeDirs, path.join(modules, 'protobufjs')]) {
    const candidate = path.join(dir, target);
    if (fs.existsSync(candidate)) return candidate;
  }
  return target;
};
root.loadSync([
  'envoy/config/endpoint/v3/endpoint.proto', 'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/listener/v3/listener.proto', 'envoy/config/route/v3/route.proto',
  // What listeners carry in typed_config (JSON "@type" Anys): the connection manager and router.
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
], {keepCase: true});
root.resolveAll();

function encode(typeUrl, json) {
  const type = root.lookupType(typeUrl.substring(typeUrl.lastIndexOf('/') + 1));
  const message = type.fromObject(json);
  return {type_url: typeUrl, value: Buffer.from(type.encode(message).finish())};
}
const nameOf = (json) => json.name !== undefined ? json.name : json.cluster_name;

function emit(event) { process.stdout.write(JSON.stringify(event) + '\n'); }

const resources = new Map();  // type_url -> {version, byName: Map(name -> {json, version})}
const streams = new Set();
let nextStream = 1;
let nextNonce = 1;

class Stream {
  constructor(call, delta) {
    this.call = call;
    this.delta = delta;
    this.id = nextStream++;
    this.types = new Map();  // type_url -> names the client wants (Set; empty = all)
    this.sent = new Map();   // delta: type_url -> Set of names the client holds
    streams.add(this);
    emit({event: 'open', stream: this.id, delta});
    call.on('data', (request) => this.onRequest(request));
    call.on('end', () => this.finish());
    call.on('error', () => this.finish());
    call.on('cancelled', () => this.finish());
  }

  finish() {
    if (!streams.delete(this)) return;
    emit({event: 'closed', stream: this.id});
    try { this.call.end(); } catch (e) {}
  }

  onRequest(request) {
    const node = request.node ? {id: request.node.id, cluster: request.node.cluster} : null;
    emit({
      event: 'request', stream: this.id, delta: this.delta, type_url: request.type_url,
      version_info: request.version_info || '', response_nonce: request.response_nonce || '',
      resource_names: request.resource_names || [],
      subscribe: request.resource_names_subscribe || [],
      unsubscribe: request.resource_names_unsubscribe || [],
      initial_resource_versions: request.initial_resource_versions || {},
      error_detail: request.error_detail ? {code: request.error_detail.code,
                                            message: request.error_detail.message} : null,
      node,
    });
    const type = request.type_url;
    if (this.delta) {
      const first = !this.types.has(type);
      const wanted = this.types.get(type) || new Set();
      for (const name of request.resource_names_subscribe || []) wanted.add(name);
      for (const name of request.resource_names_unsubscribe || []) wanted.delete(name);
      this.types.set(type, wanted);
      if (first) {
        // The versions the client already holds need not be sent again.
        const held = new Map(Object.entries(request.initial_resource_versions || {}));
        this.sent.set(type, new Set(held.keys()));
        this.pushDelta(type, null, held);
      } else if ((request.resource_names_subscribe || []).length > 0) {
        this.pushDelta(type, request.resource_names_subscribe, new Map());
      }
      return;
    }
    const isAck = request.response_nonce !== undefined && request.response_nonce !== '';
    const names = new Set(request.resource_names || []);
    const previous = this.types.get(type);
    const changed = !previous || previous.size !== names.size ||
        [...names].some((n) => !previous.has(n));
    this.types.set(type, names);
    // An ACK or NACK of the same interest needs no answer; a new interest gets the current set.
    if (!isAck || changed) this.pushSotw(type);
  }

  pushSotw(type) {
    const state = resources.get(type);
    if (!state || !this.types.has(type)) return;
    const wanted = this.types.get(type);
    const chosen = [...state.byName.entries()].filter(([n]) => wanted.size === 0 || wanted.has(n));
    const nonce = String(nextNonce++);
    this.call.write({
      version_info: state.version, type_url: type, nonce,
      resources: chosen.map(([, r]) => encode(type, r.json)),
    });
    emit({event: 'response', stream: this.id, type_url: type, version: state.version, nonce,
          names: chosen.map(([n]) => n), removed: []});
  }

  // Sends what the client lacks: `only` limits it to those names (new subscriptions); `held`
  // maps names to versions the client already has. Names it holds that are gone are removed.
  pushDelta(type, only, held, removed = []) {
    const state = resources.get(type);
    const wanted = this.types.get(type);
    if (!wanted) return;
    const sent = this.sent.get(type) || new Set();
    const chosen = [];
    if (state) {
      for (const [name, r] of state.byName) {
        if (wanted.size > 0 && !wanted.has(name)) continue;
        if (only && !only.includes(name)) continue;
        if (held.get(name) === r.version) continue;
        chosen.push([name, r]);
      }
    }
    for (const [name] of held) {
      if (!state || !state.byName.has(name)) removed.push(name);
    }
    if (chosen.length === 0 && removed.length === 0) return;
    for (const [name] of chosen) sent.add(name);
    for (const name of removed) sent.delete(name);
    this.sent.set(type, sent);
    const nonce = String(nextNonce++);
    this.call.write({
      system_version_info: state ? state.version : '', type_url: type, nonce,
      resources: chosen.map(([name, r]) => ({name, version: r.version,
                                              resource: encode(type, r.json)})),
      removed_resources: removed,
    });
    emit({event: 'response', stream: this.id, type_url: type, version: state ? state.version : '',
          nonce, names: chosen.map(([n]) => n), removed});
  }

  onSet(type, before) {
    if (!this.types.has(type)) return;
    if (!this.delta) {
      this.pushSotw(type);
      return;
    }
    const state = resources.get(type);
    const sent = this.sent.get(type) || new Set();
    const removed = [...sent].filter((n) => !state.byName.has(n));
    // Everything given in the command counts as changed.
    this.pushDelta(type, null, new Map(), removed);
  }
}

const server = new grpc.Server();
server.addService(ads.AggregatedDiscoveryService.service, {
  StreamAggregatedResources: (call) => new Stream(call, false),
  DeltaAggregatedResources: (call) => new Stream(call, true),
});

readline.createInterface({input: process.stdin}).on('line', (line) => {
  if (!line.trim()) return;
  const command = JSON.parse(line);
  if (command.op === 'set') {
    const byName = new Map();
    for (const json of command.resources) byName.set(nameOf(json), {json, version: command.version});
    const before = resources.get(command.type_url);
    resources.set(command.type_url, {version: command.version, byName});
    for (const stream of streams) stream.onSet(command.type_url, before);
  } else if (command.op === 'close_streams') {
    for (const stream of [...streams]) {
      stream.call.emit('error', {code: grpc.status.UNAVAILABLE, details: 'closed by the test'});
      stream.finish();
    }
  }
});

server.bindAsync(`127.0.0.1:${process.argv[3] || 0}`, grpc.ServerCredentials.createInsecure(),
                 (error, port) => {
                   if (error) {
                     console.error(error.message);
                     process.exit(1);
                   }
                   emit({port});
                 });
