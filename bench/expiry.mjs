// `npm run bench:expiry`: the cost of expiry by pattern in the Redis store at 100k entries,
// beside as many keys of other applications, which it must not read.
import { spawn } from 'node:child_process';
import { createClient } from '@redis/client';
import { Logger } from '@nestjs/common';
import { createCacheEntry } from '../dist/cache/cache-entry.js';
import { createRedisStore } from '../dist/cache/stores/redis.store.js';

const ENTRIES = Number(process.env.ENTRIES ?? 100_000);
const FOREIGN = Number(process.env.FOREIGN ?? 100_000);
const port = 20000 + Math.floor(Math.random() * 30000);
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
await new Promise((resolve) => setTimeout(resolve, 500));
const url = `redis://127.0.0.1:${port}`;

try {
  const raw = createClient({ url });
  await raw.connect();
  for (let start = 0; start < FOREIGN; start += 10_000) {
    const batch = raw.multi();
    for (let i = start; i < Math.min(start + 10_000, FOREIGN); i++) batch.set(`other-app:${i}`, 'x');
    await batch.exec();
  }

  const bytesSent = async () => Number(/total_net_output_bytes:(\d+)/.exec(await raw.info('stats'))[1]);
  const store = createRedisStore({ url, namespace: 'bench', maxEntries: 1_000_000 }, new Logger('bench'));
  await store.whenReady(5000);
  const entry = createCacheEntry(200, { 'content-type': 'application/json' }, Buffer.from('{"n":1}'), undefined);
  const filled = Date.now();
  for (let start = 0; start < ENTRIES; start += 1000) {
    await Promise.all(
      Array.from({ length: Math.min(1000, ENTRIES - start) }, (_, j) => store.set(`GET/api/items/${start + j}`, entry, 600_000)),
    );
  }
  console.log(`filled ${ENTRIES} entries in ${Date.now() - filled} ms (${FOREIGN} foreign keys beside them, ${await raw.dbSize()} keys in Redis)`);

  for (const [label, patterns] of [
    ['one entry', ['*/items/4242']],
    ['1 in 10 entries', ['*/items/*1']],
    ['every entry', ['*/items/*']],
  ]) {
    const sentBefore = await bytesSent();
    const started = process.hrtime.bigint();
    const expired = await store.expire(patterns);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const kib = ((await bytesSent()) - sentBefore) / 1024;
    console.log(`expire ${label.padEnd(16)} ${String(expired).padStart(6)} deleted in ${ms.toFixed(0)} ms, ${kib.toFixed(0)} KiB sent by Redis`);
  }
  console.log(`foreign keys left untouched: ${(await raw.keys('other-app:*')).length === FOREIGN}`);
  await raw.close();
  await store.close();
} finally {
  redis.kill('SIGKILL');
}
