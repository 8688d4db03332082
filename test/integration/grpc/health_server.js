// A @grpc/grpc-js grpc.health.v1.Health server on 127.0.0.1 (port from argv[2], 0 = any); prints
// {"port": N} once bound. Each line on stdin sets the status it answers ("SERVING",
// "NOT_SERVING"). An unknown service answers NOT_FOUND, as the gRPC health spec says.
'use strict';
const path = require('path');
const readline = require('readline');

const nodeModules = path.join(__dirname, '..', '..', 'node', 'node_modules');
const grpc = require(path.join(nodeModules, '@grpc', 'grpc-js'));
const protoLoader = require(path.join(nodeModules, '@grpc', 'proto-loader'));
const definition = protoLoader.loadSync(path.join(__dirname, 'health.proto'), {defaults: true});
const Health = grpc.loadPackageDefinition(definition).grpc.health.v1.Health;

let status = 'SERVING';
const known = new Set(['', 'remora.test.Echo']);

const server = new grpc.Server();
server.addService(Health.service, {
  Check(call, callback) {
    const service = call.request.service;
    if (!known.has(service)) return callback({code: grpc.status.NOT_FOUND, details: 'unknown'});
    callback(null, {status});
  },
});
server.bindAsync(`127.0.0.1:${process.argv[2] || 0}`, grpc.ServerCredentials.createInsecure(),
                 (err, port) => {
                   if (err) throw err;
                   console.log(JSON.stringify({port}));
                 });
readline.createInterface({input: process.stdin}).on('line', (line) => {
  status = line.trim();
});
