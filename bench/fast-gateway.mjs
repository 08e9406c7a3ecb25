// The peer users pick today: fast-gateway 5 with its cache middleware, set up like our gateway.
import gateway from 'fast-gateway';
import cache from 'http-cache-middleware';

const target = process.env.TARGET;
const port = Number(process.env.PORT);
const server = gateway({
  middlewares: [cache()],
  routes: [{ prefix: '/api', target }],
});
await server.start(port, '127.0.0.1');
process.stdout.write(`${port}\n`);
process.on('SIGTERM', () => process.exit(0));
