// The bench's service: keep-alive node:http, a ~100-byte JSON, a 64 KiB body, a cacheable answer,
// and a WebSocket echo on `/ws` (ws, without permessage-deflate).
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { cachedHead, hello, json, staleHead } from './answers.mjs';

const big = Buffer.alloc(64 * 1024, 'a');
let staleAnswered = false;

const answer = (req, res) => {
  // Some proxies append an empty query string (`/hello?`).
  const path = req.url.split('?', 1)[0];
  if (path.endsWith('/hello')) {
    res.writeHead(200, json);
    return res.end(hello);
  }
  if (path.endsWith('/cached')) {
    res.writeHead(200, cachedHead);
    return res.end(hello);
  }
  // Answered once; every refresh after it is held unanswered, so the entry stays stale for the
  // whole row and each request is a stale hit (with one refresh in flight, as under an origin
  // that is slow to answer).
  if (path.endsWith('/stale')) {
    if (staleAnswered) return;
    staleAnswered = true;
    res.writeHead(200, staleHead);
    return res.end(hello);
  }
  if (path.endsWith('/big')) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': big.length });
    return res.end(big);
  }
  res.writeHead(404);
  res.end();
};
// LISTENERS=3: the same service on three ports, for the rows that balance over several targets
// (one process, so that those rows cost the service what the single-target ones do). The first
// line of output is the ports, space-separated.
const listeners = Number(process.env.LISTENERS ?? 1);
const echo = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const upgrade = (req, socket, head) => {
  socket.on('error', () => undefined);
  if (req.url.split('?', 1)[0] !== '/ws') return socket.destroy();
  echo.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => undefined);
  });
};
const ports = await Promise.all(
  Array.from({ length: listeners }, (_, i) => {
    const server = createServer(answer);
    server.keepAliveTimeout = 60_000;
    server.on('upgrade', upgrade);
    return new Promise((resolve) => server.listen(i === 0 ? Number(process.env.PORT ?? 0) : 0, '127.0.0.1', () => resolve(server.address().port)));
  }),
);
process.stdout.write(`${ports.join(' ')}\n`);
process.on('SIGTERM', () => process.exit(0));
