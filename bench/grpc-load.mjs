// The gRPC rows' load: CONNECTIONS concurrent unary calls (closed loop: each stream, once
// answered, is followed by the next) over one HTTP/2 connection to URL, for DURATION seconds.
// node:http2 with raw frames, so that the load costs less than a grpc-js client would. Prints
// one JSON line: calls with grpc-status 0, their rate, p50 and p99 in ms, and calls that failed.
import { connect } from 'node:http2';
import { performance } from 'node:perf_hooks';

const url = process.env.URL;
const concurrency = Number(process.env.CONNECTIONS ?? 32);
const duration = Number(process.env.DURATION ?? 4) * 1000;
const payload = Buffer.from('x'.repeat(100));
// One message frame: not compressed, its length, its bytes.
const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, payload.length]), payload]);
const headers = { ':method': 'POST', ':path': '/bench.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers' };

const session = connect(url);
session.on('error', () => undefined);
const times = [];
let errors = 0;
const started = performance.now();
const deadline = started + duration;

const callOnce = () =>
  new Promise((resolve) => {
    const begun = performance.now();
    const stream = session.request(headers);
    let status;
    stream.on('response', (head) => (status = head['grpc-status']));
    stream.on('trailers', (trailers) => (status = trailers['grpc-status']));
    stream.on('data', () => undefined);
    stream.on('error', () => undefined);
    stream.on('close', () => {
      if (status === '0') times.push(performance.now() - begun);
      else errors += 1;
      resolve();
    });
    stream.end(frame);
  });

await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) await callOnce();
  }),
);
const elapsed = (performance.now() - started) / 1000;
session.close();
times.sort((a, b) => a - b);
const at = (share) => times[Math.min(times.length - 1, Math.floor(times.length * share))] ?? 0;
console.log(JSON.stringify({ calls: times.length, rate: times.length / elapsed, p50: at(0.5), p99: at(0.99), errors }));
