// Two small example services for the demo: "users" (public) and "admin" (behind basic auth).
import { createServer } from 'node:http';

function service(name, port, routes) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://service');
    const handler = routes[url.pathname];
    const body = handler ? handler(req, url) : { error: 'not found', path: url.pathname };
    res.writeHead(handler ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ service: name, ...body }));
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

export function startServices({ usersPort = 3001, adminPort = 3002 } = {}) {
  return Promise.all([
    service('users', usersPort, {
      '/': () => ({ users: ['ada', 'linus'] }),
      '/ada': () => ({ name: 'Ada Lovelace', born: 1815 }),
    }),
    service('admin', adminPort, {
      '/stats': (req) => ({ requests: 42, by: req.headers['x-forwarded-for'] }),
    }),
  ]);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await startServices();
  console.log('demo services on 127.0.0.1:3001 (users) and 127.0.0.1:3002 (admin)');
}
