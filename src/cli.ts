#!/usr/bin/env node
// The `nest-gateway` command: flags become the environment the standalone server reads.
import { readFileSync } from 'node:fs';
import { parseCommand } from './cli/parse-command.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const output = { out: (text: string) => process.stdout.write(text), err: (text: string) => process.stderr.write(text) };
const command = await parseCommand(process.argv.slice(2), output, version);
if ('exit' in command) {
  process.exitCode = command.exit;
} else {
  Object.assign(process.env, command.serve);
  await import('./main.js');
}
