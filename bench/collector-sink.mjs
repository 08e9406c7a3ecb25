// The tracing row's collector: OTLP/HTTP that takes every export and keeps nothing, answered as a
// collector does (200, an empty protobuf response). The first line of output is its port.
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
