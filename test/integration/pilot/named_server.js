// A @grpc/grpc-js Echo server that says who it is: Unary answers with its name (argv[3]) as the
// payload. Binds argv[2] ("127.0.0.2:0"); prints {"port": N} once bound.
'use strict';
const {grpc, Echo} = require('../grpc/common');

const name = process.argv[3];
const server = new grpc.Server();
server.addService(Echo.service, {
  Unary(call, callback) { callback(null, {seq: call.request.seq, payload: Buffer.from(name)}); },
});
server.bindAsync(process.argv[2], grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) { console.error(err); process.exit(1); }
  console.log(JSON.stringify({port}));
});
process.on('SIGTERM', () => server.forceShutdown() || process.exit(0));
