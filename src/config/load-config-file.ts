import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { GatewayOptions } from './gateway-options.interface.js';
import { GatewayConfigError, validateGatewayConfigFile } from './gateway-options.schema.js';

/** Reads a YAML (`.yaml`, `.yml`) or JSON (`.json`) config file and validates it. */
export async function loadConfigFile(path: string): Promise<GatewayOptions> {
  const file = resolve(path);
  const extension = extname(file).toLowerCase();
  if (!['.yaml', '.yml', '.json'].includes(extension)) {
    throw new GatewayConfigError(file, [`(file): expected a .yaml, .yml or .json file, got '${extension}'`]);
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new GatewayConfigError(file, [`(file): cannot be read: ${(error as Error).message}`]);
  }
  let data: unknown;
  try {
    data = extension === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new GatewayConfigError(file, [`(file): not valid ${extension === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`]);
  }
  return validateGatewayConfigFile(data, file);
}
