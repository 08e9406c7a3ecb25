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

/** Runs dist/main.js with `config` on an ephemeral port of 127.0.0.1 and waits until it listens. */
export async function startStandalone(config: unknown, env: NodeJS.ProcessEnv = {}): Promise<StandaloneGateway> {
  const child = spawn(process.execPath, [MAIN], {
    env: { ...process.env, GATEWAY_CONFIG: await configFile(config), PORT: '0', HOST: '127.0.0.1', ...env },
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      const listening = /Gateway listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (listening) resolve(listening[1]);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    void exited.then((code) => reject(new Error(`gateway exited with ${code} before listening:\n${output}`)));
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
