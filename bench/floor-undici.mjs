// Floor: a node:http server forwarding through undici's Pool.dispatch — the request body streamed,
// a legacy dispatch handler writing the head from the raw headers and the chunks with back-pressure.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const pool = new Pool(process.env.TARGET, { keepAliveTimeout: 60_000 });
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

const server = createServer((req, res) => {
  const headers = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (!hopByHop.has(req.rawHeaders[i].toLowerCase())) headers.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.dispatch({ method: req.method, path: req.url, headers, body: hasBody ? req : null }, {
    onConnect: (abort) => res.once('close', () => res.writableFinished || abort()),
    onHeaders(statusCode, rawHeaders, resume) {
      const head = [];
      for (let i = 0; i < rawHeaders.length; i += 2) {
        const name = rawHeaders[i].toString('latin1');
        if (!hopByHop.has(name.toLowerCase())) head.push(name, rawHeaders[i + 1].toString('latin1'));
      }
      res.writeHead(statusCode, head);
      res.on('drain', resume);
      return true;
    },
    onData: (chunk) => res.write(chunk),
    onComplete: () => res.end(),
    onError: () => (res.headersSent ? res.destroy() : res.writeHead(502).end()),
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
