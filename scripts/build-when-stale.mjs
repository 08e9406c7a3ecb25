// `npm start`'s build step: `nest build` only when dist/ is missing or older than what it is built
// from, so that a start after no change starts at once. `--check` says which, and builds nothing.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SOURCES = ['src', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json'];
const OUTPUTS = ['dist/main.js', 'dist/cli.js', 'dist/index.js'];

/** Newest modification time of a file, or of any file below a directory; 0 when absent. */
function newest(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/** Oldest modification time of the built entry points; 0 when one is missing. */
function oldestOutput() {
  return Math.min(...OUTPUTS.map((file) => newest(file)));
}

const stale = oldestOutput() < Math.max(...SOURCES.map(newest));
if (process.argv.includes('--check')) {
  process.stdout.write(`${stale ? 'stale' : 'fresh'}\n`);
} else if (stale) {
  const built = spawnSync(process.execPath, ['node_modules/@nestjs/cli/bin/nest.js', 'build'], { stdio: 'inherit' });
  process.exitCode = built.status ?? 1;
}
