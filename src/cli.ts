#!/usr/bin/env node
// The `nest-gateway` command: flags become the environment the standalone server reads.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseCommand } from './cli/parse-command.js';
import { tunedLaunch } from './cli/runtime-flags.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const output = { out: (text: string) => process.stdout.write(text), err: (text: string) => process.stderr.write(text) };

const command = await parseCommand(process.argv.slice(2), output, version);
if ('exit' in command) {
  process.exitCode = command.exit;
} else {
  const launch = tunedLaunch(fileURLToPath(import.meta.url), process.argv.slice(2), process.env, process.execArgv);
  if (launch) runTuned(launch.args, launch.env);
  else {
    Object.assign(process.env, command.serve);
    await import('./main.js');
  }
}

/**
 * The server runs in a child with the tuned runtime (its allocator settings take effect only in a
 * new process); this one passes it the signals an operator sends and exits as it does. The child
 * has a process group of its own, so that a terminal's Ctrl-C reaches it once, through here.
 */
function runTuned(args: string[], env: NodeJS.ProcessEnv): void {
  const child = spawn(process.execPath, args, { env, stdio: 'inherit', detached: true });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + constants.signals[signal!]));
}
