import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The standalone gateway as built by `nest build`. */
export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

/** Writes `content` as a JSON config file in a new temporary directory. */
export async function configFile(content: unknown): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'gw-config-')), 'gateway.json');
  await writeFile(file, JSON.stringify(content));
  return file;
}

export interface StandaloneGateway {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote so far, stdout and stderr. */
  output(): string;
  exited: Promise<number | null>;
}

/** How long a gateway may take to listen before the test gives up on it and stops it. */
const LISTEN_WAIT_MS = 20_000;

const started = new Set<ChildProcess>();

/**
 * Stops by PID every gateway a test file started and has not seen exit: when the file ends, also
 * after a failed test or setup that never reached its own stop.
 */
afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  started.clear();
});

/**
 * Runs dist/main.js with `config` on an ephemeral port of 127.0.0.1 and waits until it listens;
 * one that has not listened within {@link LISTEN_WAIT_MS} is killed, and the start fails.
 */
export async function startStandalone(config: unknown, env: NodeJS.ProcessEnv = {}): Promise<StandaloneGateway> {
  const child = spawn(process.execPath, [MAIN], {
    env: { ...process.env, GATEWAY_CONFIG: await configFile(config), PORT: '0', HOST: '127.0.0.1', ...env },
  });
  started.add(child);
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      const listening = /Gateway listening on (https?:\/\/[\d.]+:\d+)/.exec(output);
      if (!listening) return;
      // The timer bounds the start only: a gateway still in use past it must not be killed.
      clearTimeout(timer);
      resolve(listening[1]);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    void exited.then((code) => reject(new Error(`gateway exited with ${code} before listening:\n${output}`)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway did not listen within ${LISTEN_WAIT_MS} ms:\n${output}`));
    }, LISTEN_WAIT_MS);
    void exited.finally(() => clearTimeout(timer));
  });
  return { child, url, output: () => output, exited };
}

/** Whether a process of this id still runs. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
