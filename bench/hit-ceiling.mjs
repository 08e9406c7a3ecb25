// The cache-hit row's ceiling: node:http on the gateway's core answering /cached from memory, the
// service's answer as a gateway replays it (with its hit marker). No Node gateway can serve a hit
// faster than this.
import { createServer } from 'node:http';

const hello = JSON.stringify({ hello: 'world', service: 'bench-upstream', padding: 'x'.repeat(48) });
const head = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(hello), 'x-cache-timeout': '1 minute', 'x-cache-hit': '1' };

const server = createServer((req, res) => {
  res.writeHead(200, head);
  res.end(hello);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
