import { parseArgs } from 'node:util';
import type { GatewayConfigError } from '../config/gateway-options.schema.js';
import { loadConfigFile, overridesFromEnvironment } from '../config/load-config-file.js';

export const USAGE = `Usage:
  nest-gateway [--config <file>] [--port <n>] [--host <address>] [--workers <n|auto>]
      runs the gateway; each flag overrides its environment variable
      (GATEWAY_CONFIG, PORT, HOST, GATEWAY_WORKERS)
  nest-gateway validate <file>
      checks a config file: prints each field at fault and exits 1, or exits 0
  nest-gateway --help | --version`;

/** What the command line asks for: run the server with this environment, or exit with a code. */
export type Command = { serve: NodeJS.ProcessEnv } | { exit: number };

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** Reads the arguments (after `node cli.js`); does the work of `validate`, `--help`, `--version`. */
export async function parseCommand(args: string[], output: Output, version: string): Promise<Command> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        workers: { type: 'string', short: 'w' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (error) {
    output.err(`${(error as Error).message}\n\n${USAGE}\n`);
    return { exit: 2 };
  }
  const { values, positionals } = parsed;
  if (values.help) {
    output.out(`${USAGE}\n`);
    return { exit: 0 };
  }
  if (values.version) {
    output.out(`${version}\n`);
    return { exit: 0 };
  }
  if (positionals[0] === 'validate') return validate(positionals.slice(1), output);
  if (positionals.length > 0) {
    output.err(`Unknown command: ${positionals.join(' ')}\n\n${USAGE}\n`);
    return { exit: 2 };
  }
  const env: NodeJS.ProcessEnv = {};
  if (values.config !== undefined) env.GATEWAY_CONFIG = values.config;
  if (values.port !== undefined) env.PORT = values.port;
  if (values.host !== undefined) env.HOST = values.host;
  if (values.workers !== undefined) env.GATEWAY_WORKERS = values.workers;
  return { serve: env };
}

async function validate(files: string[], output: Output): Promise<Command> {
  if (files.length !== 1) {
    output.err(`validate takes one config file\n\n${USAGE}\n`);
    return { exit: 2 };
  }
  try {
    const options = await loadConfigFile(files[0], overridesFromEnvironment());
    output.out(`${files[0]}: valid, ${options.routes.length} route(s)\n`);
    return { exit: 0 };
  } catch (error) {
    // loadConfigFile reports every failure, unreadable file included, as a GatewayConfigError.
    output.err(`${(error as GatewayConfigError).message}\n`);
    return { exit: 1 };
  }
}
