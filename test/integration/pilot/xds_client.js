// A proxyless gRPC client from @grpc/grpc-js-xds, bootstrapped by $GRPC_XDS_BOOTSTRAP: one channel
// to argv[2] (xds:///<fqdn>:<port>) for its whole life. Each stdin line is a batch,
// {"count": n, "metadata": {...}}, of sequential Unary calls; the answer is one stdout line,
// {"counts": {<server name>: n}, "errors": {<status code>: n}}.
'use strict';
const path = require('path');
const readline = require('readline');
const {grpc, Echo} = require('../grpc/common');
const xds = require(path.join(__dirname, '..', '..', 'node', 'node_modules', '@grpc', 'grpc-js-xds'));

xds.register();
const client = new Echo(process.argv[2], grpc.credentials.createInsecure());

function unary(metadata) {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata || {})) md.set(k, v);
  return new Promise((resolve) => {
    client.Unary({seq: 0, payload: Buffer.alloc(0)}, md, {deadline: Date.now() + 15000},
                 (err, reply) => resolve(err ? {error: err.code} : {who: Buffer.from(reply.payload).toString()}));
  });
}

async function batch(line) {
  const {count, metadata} = JSON.parse(line);
  const counts = {}, errors = {};
  for (let i = 0; i < count; i++) {
    const r = await unary(metadata);
    if (r.error !== undefined) errors[r.error] = (errors[r.error] || 0) + 1;
    else counts[r.who] = (counts[r.who] || 0) + 1;
  }
  console.log(JSON.stringify({counts, errors}));
}

let chain = Promise.resolve();
readline.createInterface({input: process.stdin}).on('line', (line) => { chain = chain.then(() => batch(line)); });
process.stdin.on('end', () => chain.then(() => { client.close(); process.exit(0); }));
