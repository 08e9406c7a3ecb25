// `npm run demo`: the example services and the gateway (dist/main.js) in one command.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServices } from './services.mjs';

const servers = await startServices();
const port = process.env.PORT ?? '8080';
const gateway = spawn(process.execPath, [fileURLToPath(new URL('../dist/main.js', import.meta.url))], {
  stdio: 'inherit',
  env: {
    ...process.env,
    PORT: port,
    HOST: process.env.HOST ?? '127.0.0.1',
    GATEWAY_CONFIG: process.env.GATEWAY_CONFIG ?? fileURLToPath(new URL('./gateway.config.yaml', import.meta.url)),
  },
});

console.log(`
nest-gateway demo on http://127.0.0.1:${port}  (Ctrl-C to stop)
  curl -i http://127.0.0.1:${port}/users/ada                                # routed to the users service
  curl -i http://127.0.0.1:${port}/admin/stats                              # 401: basic auth on /admin only
  curl -i -u admin:s3cr3t-pass http://127.0.0.1:${port}/admin/stats         # 200 through the auth
  curl -i http://127.0.0.1:${port}/nowhere                                  # 404: no route
  curl -si http://127.0.0.1:${port}/users/numbers | grep -i x-cache         # MISS (~50 ms), then HIT (~1 ms) for 30 s
  curl -si -X PATCH http://127.0.0.1:${port}/users/numbers                  # the service expires the entry: next GET is a MISS
`);

const stop = () => {
  gateway.kill('SIGTERM');
  for (const server of servers) server.close();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
gateway.on('exit', (code) => {
  for (const server of servers) server.close();
  process.exitCode = code ?? 0;
});
