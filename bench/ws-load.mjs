// The WebSocket row's load: CONNECTIONS connections to URL, closed loop (each sends a message,
// waits for its echo, sends the next) for DURATION seconds. Prints one JSON line: messages
// echoed, their rate, the round trip's p50 and p99 in ms, and connections that failed.
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';

const url = process.env.URL;
const connections = Number(process.env.CONNECTIONS ?? 64);
const duration = Number(process.env.DURATION ?? 8) * 1000;
// About the size of a chat message or an event with a few fields.
const message = JSON.stringify({ type: 'echo', padding: 'x'.repeat(100) });

const roundTrips = [];
let errors = 0;

const open = () =>
  new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', () => {
      errors += 1;
      resolve(undefined);
    });
  });

const sockets = (await Promise.all(Array.from({ length: connections }, open))).filter(Boolean);
const started = performance.now();
const deadline = started + duration;
await Promise.all(
  sockets.map(
    (ws) =>
      new Promise((resolve) => {
        let sentAt = 0;
        const send = () => {
          sentAt = performance.now();
          ws.send(message);
        };
        ws.on('message', () => {
          const now = performance.now();
          roundTrips.push(now - sentAt);
          if (now < deadline) send();
          else resolve();
        });
        ws.once('close', () => {
          if (performance.now() < deadline) errors += 1;
          resolve();
        });
        ws.on('error', () => undefined);
        send();
      }),
  ),
);
const elapsed = (performance.now() - started) / 1000;
for (const ws of sockets) ws.terminate();
roundTrips.sort((a, b) => a - b);
const at = (share) => roundTrips[Math.min(roundTrips.length - 1, Math.floor(share * roundTrips.length))] ?? 0;
process.stdout.write(`${JSON.stringify({ messages: roundTrips.length, rate: roundTrips.length / elapsed, p50: at(0.5), p99: at(0.99), errors })}\n`);
