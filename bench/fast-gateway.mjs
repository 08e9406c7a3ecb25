// The peer users pick today: fast-gateway 5, routed like our gateway. CACHE=1 adds its cache,
// http-cache-middleware (memory), for the cache-hit row; without it nothing looks at the cache.
import gateway from 'fast-gateway';
import cache from 'http-cache-middleware';

const target = process.env.TARGET;
const port = Number(process.env.PORT);
const server = gateway({
  middlewares: process.env.CACHE === '1' ? [cache()] : [],
  routes: [{ prefix: '/api', target }],
});
await server.start(port, '127.0.0.1');
process.stdout.write(`${port}\n`);
process.on('SIGTERM', () => process.exit(0));
