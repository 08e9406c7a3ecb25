// Two small example services for the demo: "users" (public) and "admin" (behind basic auth).
import { createServer } from 'node:http';

// A handler returns the body, or [body, extra headers].
function service(name, port, host, routes) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://service');
    const handler = routes[`${req.method} ${url.pathname}`];
    const [body, headers] = handler ? [].concat(handler(req, url)) : [{ error: 'not found', path: url.pathname }];
    res.writeHead(handler ? 200 : 404, { 'content-type': 'application/json', ...headers });
    // REPLICA names the copy that answered, where several run behind one route (docker compose).
    res.end(JSON.stringify({ service: name, ...(process.env.REPLICA ? { replica: process.env.REPLICA } : {}), ...body }));
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}

// Slow on purpose, so that a cached answer is visibly faster.
function numbers() {
  const until = Date.now() + 50;
  while (Date.now() < until);
  return [4, 8, 15, 16, 23, 42];
}

export function startServices({ usersPort = 3001, adminPort = 3002, host = '127.0.0.1' } = {}) {
  return Promise.all([
    service('users', usersPort, host, {
      'GET /': () => ({ users: ['ada', 'linus'] }),
      'GET /ada': () => ({ name: 'Ada Lovelace', born: 1815 }),
      // The service decides: the gateway keeps this answer for 30 seconds...
      'GET /numbers': () => [{ numbers: numbers(), computedAt: new Date().toISOString() }, { 'x-cache-timeout': '30 seconds' }],
      // ...and drops it as soon as a change says so.
      'PATCH /numbers': () => [{ updated: true }, { 'x-cache-expire': '*/numbers' }],
    }),
    service('admin', adminPort, host, {
      'GET /stats': (req) => ({ requests: 42, by: req.headers['x-forwarded-for'] }),
    }),
  ]);
}

// `node demo/services.mjs` runs both; HOST, USERS_PORT and ADMIN_PORT move them (in containers).
if (import.meta.url === `file://${process.argv[1]}`) {
  const host = process.env.HOST ?? '127.0.0.1';
  const usersPort = Number(process.env.USERS_PORT ?? 3001);
  const adminPort = Number(process.env.ADMIN_PORT ?? 3002);
  const servers = await startServices({ usersPort, adminPort, host });
  console.log(`demo services on ${host}:${usersPort} (users) and ${host}:${adminPort} (admin)`);
  process.on('SIGTERM', () => servers.forEach((server) => server.close()));
}
