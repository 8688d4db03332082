// A proxyless gRPC client from @grpc/grpc-js-xds, bootstrapped by $GRPC_XDS_BOOTSTRAP: dials
// argv[2] (xds:///<fqdn>:<port>) and makes argv[3] sequential Unary calls, each with the metadata
// in argv[4] (JSON object, optional). Prints {"counts": {<server name>: n}, "errors": {<code>: n}}.
'use strict';
const path = require('path');
const {grpc, Echo} = require('../grpc/common');
const xds = require(path.join(__dirname, '..', '..', 'node', 'node_modules', '@grpc', 'grpc-js-xds'));

xds.register();
const [target, count, metadataJson] = process.argv.slice(2);
const client = new Echo(target, grpc.credentials.createInsecure());
const headers = JSON.parse(metadataJson || '{}');
const counts = {}, errors = {};

function call(i) {
  if (i >= Number(count)) {
    console.log(JSON.stringify({counts, errors}));
    client.close();
    process.exit(0);
  }
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  const deadline = Date.now() + 15000;
  client.Unary({seq: i, payload: Buffer.alloc(0)}, md, {deadline}, (err, reply) => {
    if (err) errors[err.code] = (errors[err.code] || 0) + 1;
    else {
      const who = Buffer.from(reply.payload).toString();
      counts[who] = (counts[who] || 0) + 1;
    }
    call(i + 1);
  });
}
call(0);
