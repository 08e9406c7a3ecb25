import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const SCRIPT = fileURLToPath(new URL('../scripts/build-when-stale.mjs', import.meta.url));

/** Writes `files` under `dir`, each with the modification time given (seconds since the epoch). */
async function lay(dir: string, files: Record<string, number>): Promise<void> {
  for (const [file, seconds] of Object.entries(files)) {
    await mkdir(join(dir, file, '..'), { recursive: true });
    await writeFile(join(dir, file), '');
    await utimes(join(dir, file), seconds, seconds);
  }
}

const check = async (cwd: string) => (await promisify(execFile)(process.execPath, [SCRIPT, '--check'], { cwd })).stdout.trim();

// The bug: `npm start` ran `nest build` on every start, 16 s on a loaded machine.
describe("npm start's build step", () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gw-start-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('builds nothing when dist/ is newer than everything it is built from', async () => {
    await lay(dir, { 'src/main.ts': 1000, 'src/config/a.ts': 1100, 'tsconfig.json': 900, 'dist/main.js': 2000, 'dist/cli.js': 2000, 'dist/index.js': 2000 });
    expect(await check(dir)).toBe('fresh');
  });

  it('builds when a source, however deep, or a build setting is newer than dist/', async () => {
    await lay(dir, { 'src/main.ts': 1000, 'src/config/a.ts': 3000, 'dist/main.js': 2000, 'dist/cli.js': 2000, 'dist/index.js': 2000 });
    expect(await check(dir)).toBe('stale');
    await lay(dir, { 'src/config/a.ts': 1000, 'nest-cli.json': 2500 });
    expect(await check(dir)).toBe('stale');
  });

  it('builds when dist/ is missing or incomplete', async () => {
    await lay(dir, { 'src/main.ts': 1000 });
    expect(await check(dir)).toBe('stale');
    await lay(dir, { 'dist/main.js': 2000, 'dist/index.js': 2000 });
    expect(await check(dir)).toBe('stale');
  });
});
