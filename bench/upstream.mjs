// The bench's service: keep-alive node:http, a ~100-byte JSON, a 64 KiB body and a cacheable answer.
import { createServer } from 'node:http';

const hello = JSON.stringify({ hello: 'world', service: 'bench-upstream', padding: 'x'.repeat(48) });
const big = Buffer.alloc(64 * 1024, 'a');
const json = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(hello) };

const server = createServer((req, res) => {
  // Some proxies append an empty query string (`/hello?`).
  const path = req.url.split('?', 1)[0];
  if (path.endsWith('/hello')) {
    res.writeHead(200, json);
    return res.end(hello);
  }
  if (path.endsWith('/cached')) {
    res.writeHead(200, { ...json, 'x-cache-timeout': '1 minute' });
    return res.end(hello);
  }
  if (path.endsWith('/big')) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': big.length });
    return res.end(big);
  }
  res.writeHead(404);
  res.end();
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
