// A @grpc/grpc-js Echo client: `node client.js <host:port> <mode> '<json options>'` makes one call
// and prints one JSON line: the status code and details, initial and trailing metadata, and
// what was received (count, bytes and sha256 of the payloads, or the unary reply).
// Modes: unary, server-stream, client-stream, bidi, and two that make several calls on the one
// channel: cancel-stream (a server stream cancelled after `cancelAfter` messages, then a unary
// call) and concurrent-unary (`calls` unary calls at once). Options: metadata {k: v},
// deadlineMs, count, size, seq (unary), payload (unary, a string), cancelAfter, calls.
'use strict';
const {grpc, Echo, payload, Digest} = require('./common');

const [target, mode, json] = process.argv.slice(2);
const opts = JSON.parse(json || '{}');

const metadata = new grpc.Metadata();
for (const [k, v] of Object.entries(opts.metadata || {})) metadata.set(k, String(v));
const callOptions = opts.deadlineMs ? {deadline: Date.now() + opts.deadlineMs} : {};
const client = new Echo(target, grpc.credentials.createInsecure());
const started = Date.now();
const result = {};

function metadataJson(md) {
  const out = {};
  for (const [k, v] of Object.entries(md.getMap()))
    out[k] = Buffer.isBuffer(v) ? v.toString('hex') : v;
  return out;
}

// Prints the result once the status is in and, for a call that reads a stream, the stream has
// ended (grpc-js may report the status first) or failed.
function finish(call, readsStream) {
  let statusIn = false;
  let streamDone = !readsStream;
  let printed = false;
  const done = () => {
    if (!statusIn || !streamDone || printed) return;
    printed = true;
    result.elapsedMs = Date.now() - started;
    console.log(JSON.stringify(result));
    client.close();
  };
  call.on('metadata', (md) => { result.headers = metadataJson(md); });
  call.on('status', (status) => {
    result.code = status.code;
    result.details = status.details;
    result.trailers = metadataJson(status.metadata);
    statusIn = true;
    done();
  });
  if (readsStream) {
    const ended = () => { streamDone = true; done(); };
    call.on('end', ended);
    call.on('error', ended);
  }
}

// Writes `count` payloads honouring backpressure; counts the times write() said "wait".
function writeAll(call, count, size) {
  let seq = 0;
  result.writeBlocked = 0;
  const more = () => {
    while (seq < count) {
      const ok = call.write({seq, payload: payload(seq, size)});
      seq++;
      if (!ok) {
        result.writeBlocked++;
        return call.once('drain', more);
      }
    }
    call.end();
  };
  more();
}

// Checks each received message is the expected payload in order; digests what arrived.
function receive(call, size) {
  const digest = new Digest();
  let inOrder = true;
  call.on('data', (chunk) => {
    if (chunk.seq !== digest.count || !payload(chunk.seq, size).equals(chunk.payload))
      inOrder = false;
    digest.add(chunk.payload);
  });
  call.prependListener('end', () => {
    result.received = digest.summary();
    result.inOrder = inOrder;
  });
}

const count = opts.count || 0;
const size = opts.size || 0;
let call;
if (mode === 'unary') {
  call = client.Unary({seq: opts.seq || 0, payload: Buffer.from(opts.payload || '')}, metadata,
                      callOptions, (err, reply) => {
                        if (err) return;
                        result.reply = {seq: reply.seq, payload: reply.payload.toString()};
                      });
} else if (mode === 'server-stream') {
  call = client.ServerStream({count, size}, metadata, callOptions);
  receive(call, size);
} else if (mode === 'client-stream') {
  call = client.ClientStream(metadata, callOptions, (err, summary) => {
    if (!err) result.summary = summary;
  });
  const sent = new Digest();
  for (let i = 0; i < count; i++) sent.add(payload(i, size));
  result.sent = sent.summary();
  writeAll(call, count, size);
} else if (mode === 'bidi') {
  call = client.Bidi(metadata, callOptions);
  const sent = new Digest();
  for (let i = 0; i < count; i++) sent.add(payload(i, size));
  result.sent = sent.summary();
  receive(call, size);
  writeAll(call, count, size);
} else if (mode === 'cancel-stream') {
  // The client gives up mid-stream; the result says how far it got, how the call ended, and
  // whether a unary call on the same channel (the same connection) still works afterwards.
  call = client.ServerStream({count, size}, metadata, callOptions);
  let received = 0;
  call.on('data', () => {
    if (++received === opts.cancelAfter) call.cancel();
  });
  call.on('error', () => {});  // the CANCELLED status, reported below
  call.on('status', (status) => {
    result.code = status.code;
    result.received = received;
    client.Unary({seq: 1, payload: Buffer.from('after')}, (err, reply) => {
      result.after = err ? {code: err.code, details: err.details} : {code: 0, seq: reply.seq};
      result.elapsedMs = Date.now() - started;
      console.log(JSON.stringify(result));
      client.close();
    });
  });
} else if (mode === 'concurrent-unary') {
  // Every call is started before any answer comes back: they share the channel's connection.
  const calls = opts.calls || 1;
  let pending = calls;
  result.ok = 0;
  result.failed = [];
  for (let i = 0; i < calls; i++) {
    const sent = payload(i, size);
    client.Unary({seq: i, payload: sent}, metadata, callOptions, (err, reply) => {
      if (err) result.failed.push({seq: i, code: err.code, details: err.details});
      else if (reply.seq !== i || !sent.equals(reply.payload)) result.failed.push({seq: i});
      else result.ok++;
      if (--pending > 0) return;
      result.elapsedMs = Date.now() - started;
      console.log(JSON.stringify(result));
      client.close();
    });
  }
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
if (call !== undefined && mode !== 'cancel-stream')
  finish(call, mode === 'server-stream' || mode === 'bidi');
