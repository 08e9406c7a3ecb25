// Floor: the least a Node proxy does with node:http alone — a server that forwards each request
// with node:http's client over a keep-alive Agent, piping the bodies both ways.
import { Agent, createServer, request } from 'node:http';

const target = new URL(process.env.TARGET);
const agent = new Agent({ keepAlive: true, maxFreeSockets: 256 });
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
const endToEnd = (headers) => Object.fromEntries(Object.entries(headers).filter(([name]) => !hopByHop.has(name)));

const server = createServer((req, res) => {
  const upstream = request(
    { agent, host: target.hostname, port: target.port, method: req.method, path: req.url, headers: endToEnd(req.headers) },
    (answer) => {
      res.writeHead(answer.statusCode, endToEnd(answer.headers));
      answer.pipe(res);
    },
  );
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
  res.on('close', () => res.writableFinished || upstream.destroy());
  req.pipe(upstream);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
