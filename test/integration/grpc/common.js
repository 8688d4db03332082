// Shared by server.js and client.js: loads echo.proto and makes the deterministic payloads
// both sides check (message i of size n is the same bytes on every run).
'use strict';
const path = require('path');
const crypto = require('crypto');

const nodeModules = path.join(__dirname, '..', '..', 'node', 'node_modules');
const grpc = require(path.join(nodeModules, '@grpc', 'grpc-js'));
const protoLoader = require(path.join(nodeModules, '@grpc', 'proto-loader'));

const definition = protoLoader.loadSync(path.join(__dirname, 'echo.proto'),
                                        {longs: Number, defaults: true});
const Echo = grpc.loadPackageDefinition(definition).remora.test.Echo;

function payload(seq, size) {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = (seq * 31 + i) & 0xff;
  return buf;
}

class Digest {
  constructor() {
    this.hash = crypto.createHash('sha256');
    this.count = 0;
    this.bytes = 0;
  }
  add(buf) {
    this.hash.update(buf);
    this.count++;
    this.bytes += buf.length;
  }
  summary() {
    return {count: this.count, bytes: this.bytes, sha256: this.hash.digest('hex')};
  }
}

module.exports = {grpc, Echo, payload, Digest};
