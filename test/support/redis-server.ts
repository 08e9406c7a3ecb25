import { type ChildProcess, spawn } from 'node:child_process';
import { createConnection } from 'node:net';

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, commands get no answer. */
  freeze(): void;
  thaw(): void;
}

const pickPort = () => 20000 + Math.floor(Math.random() * 30000);

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = createConnection({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server did not open port ${port}`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

const started = new Set<ChildProcess>();

/** Stops by PID every redis-server a test file started, when the file ends, whatever happened in it. */
afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  started.clear();
});

/** Starts `redis-server` with the given port; rejects when it exits early (e.g. port in use). */
function launch(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  started.add(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output.slice(-300)}`)));
    child.once('error', reject);
    waitForPort(port, 5000).then(
      () => resolve(child),
      (error: Error) => {
        // Running but not listening: stopped here, or it would outlive the test.
        child.kill('SIGKILL');
        reject(error);
      },
    );
  });
}


function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/**
 * A real Redis on a port of its own. redis-server must be told its port, so one is picked at
 * random and another tried when it is taken. The child is owned by PID and killed on `stop()`.
 */
export async function startRedisServer(): Promise<RedisServer> {
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; attempt < 10 && !child; attempt++) {
    port = pickPort();
    child = await launch(port).catch(() => undefined);
  }
  if (!child) throw new Error('could not start redis-server (is it installed?)');
  let current: ChildProcess = child;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => terminate(current),
    freeze: () => current.kill('SIGSTOP'),
    thaw: () => current.kill('SIGCONT'),
    async restart() {
      await terminate(current);
      current = await launch(port);
    },
  };
}
