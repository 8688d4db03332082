// A @grpc/grpc-js Echo server on 127.0.0.1 (port from argv[2], 0 = any); prints {"port": N}
// once bound. Requests steer it through metadata:
//   x-delay-ms: answer a unary call after this long;
//   x-fail-key + x-fail-times: fail the first N calls with that key with UNAVAILABLE;
//   x-status + x-message: end the call with that status and message (URI-encoded, metadata
//   values being ASCII); custom trailers are always sent;
//   x-read-pause-ms: Bidi reads one message then pauses this long (a slow reader).
// A call the client (or a proxy) cancels is reported on stdout as {"cancelled": "<method>"}.
// Every response carries initial metadata x-echo-header and trailing metadata x-echo-trailer
// and a binary x-echo-trailer-bin; x-deadline-ms says how long the server's deadline was.
'use strict';
const {grpc, Echo, payload, Digest} = require('./common');

const attempts = new Map();

function first(metadata, key) {
  const values = metadata.get(key);
  return values.length ? String(values[0]) : undefined;
}

function initialMetadata(call) {
  const md = new grpc.Metadata();
  md.set('x-echo-header', 'header-value');
  const deadline = Number(call.getDeadline());  // a Date or a ms timestamp; Infinity if none
  const ms = Number.isFinite(deadline) ? deadline - Date.now() : -1;
  md.set('x-deadline-ms', String(ms));
  return md;
}

function trailers() {
  const md = new grpc.Metadata();
  md.set('x-echo-trailer', 'trailer-value');
  md.set('x-echo-trailer-bin', Buffer.from([0, 1, 2, 0xfe, 0xff]));
  return md;
}

// The status the request asks for, or null for OK.
function requestedError(call) {
  const key = first(call.metadata, 'x-fail-key');
  if (key !== undefined) {
    const n = (attempts.get(key) || 0) + 1;
    attempts.set(key, n);
    if (n <= Number(first(call.metadata, 'x-fail-times') || 0))
      return {code: grpc.status.UNAVAILABLE, details: `attempt ${n} fails`, metadata: trailers()};
  }
  const code = first(call.metadata, 'x-status');
  if (code === undefined) return null;
  return {code: Number(code), details: decodeURIComponent(first(call.metadata, 'x-message') || ''),
          metadata: trailers()};
}

// Writes `count` messages honouring backpressure, then ends with custom trailers.
function writeAll(call, count, size, done) {
  let seq = 0;
  const more = () => {
    while (seq < count) {
      if (call.cancelled) return;  // nobody is reading any more
      const ok = call.write({seq, payload: payload(seq, size)});
      seq++;
      if (!ok) return call.once('drain', more);
    }
    done();
  };
  more();
}

const handlers = {
  Unary(call, callback) {
    const answer = () => {
      const error = requestedError(call);
      if (error) return callback(error);
      call.sendMetadata(initialMetadata(call));
      callback(null, {seq: attempts.get(first(call.metadata, 'x-fail-key')) || call.request.seq,
                      payload: call.request.payload}, trailers());
    };
    const delay = Number(first(call.metadata, 'x-delay-ms') || 0);
    if (delay) setTimeout(answer, delay); else answer();
  },

  ServerStream(call) {
    call.on('cancelled', () => console.log(JSON.stringify({cancelled: 'ServerStream'})));
    call.sendMetadata(initialMetadata(call));
    writeAll(call, call.request.count, call.request.size, () => {
      const error = requestedError(call);
      if (error) return call.emit('error', error);
      call.end(trailers());
    });
  },

  ClientStream(call, callback) {
    const digest = new Digest();
    call.on('data', (chunk) => digest.add(chunk.payload));
    call.on('end', () => {
      const error = requestedError(call);
      if (error) return callback(error);
      call.sendMetadata(initialMetadata(call));
      callback(null, digest.summary(), trailers());
    });
  },

  // Echoes every message back; a slow reader when x-read-pause-ms is set.
  Bidi(call) {
    call.sendMetadata(initialMetadata(call));
    const pause = Number(first(call.metadata, 'x-read-pause-ms') || 0);
    call.on('data', (chunk) => {
      const ok = call.write(chunk);
      if (!ok || pause) {
        call.pause();
        let waits = ok ? 0 : 1;
        const resume = () => { if (--waits <= 0) call.resume(); };
        if (!ok) call.once('drain', resume);
        if (pause) { waits++; setTimeout(resume, pause); }
      }
    });
    call.on('end', () => call.end(trailers()));
  },
};

const server = new grpc.Server();
server.addService(Echo.service, handlers);
server.bindAsync(`127.0.0.1:${process.argv[2] || 0}`, grpc.ServerCredentials.createInsecure(),
                 (err, port) => {
                   if (err) { console.error(err); process.exit(1); }
                   console.log(JSON.stringify({port}));
                 });
process.on('SIGTERM', () => server.forceShutdown() || process.exit(0));
