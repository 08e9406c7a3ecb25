// The cache-hit row's ceiling: node:http on the gateway's core answering /cached from memory, the
// service's answer as a gateway replays it (with its hit marker). No Node gateway can serve a hit
// faster than this.
import { createServer } from 'node:http';
import { cachedHead, hello } from './answers.mjs';

const head = { ...cachedHead, 'x-cache-hit': '1' };

const server = createServer((req, res) => {
  res.writeHead(200, head);
  res.end(hello);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
