import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Manifest {
  name: string;
  version: string;
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

const manifestAt = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));

/** The directory of `name` as Node resolves it from `from`, or undefined when it is not installed. */
function packageDir(name: string, from: string): string | undefined {
  const require = createRequire(join(from, 'package.json'));
  for (const candidate of require.resolve.paths(name) ?? []) {
    try {
      const dir = join(candidate, name);
      if (manifestAt(dir).name === name) return dir;
    } catch {
      // Not in this node_modules: the next one up.
    }
  }
  return undefined;
}

/** Every package the gateway runs with, its own dependencies and the peers a host installs, with theirs. */
function runtimePackages(): Manifest[] {
  const seen = new Map<string, Manifest>();
  const visit = (dir: string, manifest: Manifest, withPeers: boolean) => {
    const names = { ...manifest.dependencies, ...manifest.optionalDependencies, ...(withPeers ? manifest.peerDependencies : {}) };
    for (const name of Object.keys(names)) {
      const found = packageDir(name, dir);
      if (!found || seen.has(found)) continue;
      const child = manifestAt(found);
      seen.set(found, child);
      visit(found, child, false);
    }
  };
  visit(ROOT, manifestAt(ROOT), true);
  return [...seen.values()];
}

// The bug: `engines` said Node 20.19 while packages the gateway runs with (file-type 22 through
// @nestjs/common, cookie 2 through @nestjs/platform-fastify) asked for Node 22: npm warned, and
// a team on Node 20 could not tell whether it was supported.
describe("the gateway's engines", () => {
  it('are within what every package it runs with asks for', () => {
    const ours = manifestAt(ROOT).engines!.node!;
    const outside = runtimePackages()
      .filter((manifest) => manifest.engines?.node && !semver.subset(ours, manifest.engines.node))
      .map((manifest) => `${manifest.name}@${manifest.version} asks for node ${manifest.engines!.node}`);
    expect(outside).toEqual([]);
  });

  it('name the line the image runs', () => {
    const line = readFileSync(join(ROOT, '.nvmrc'), 'utf8').trim();
    expect(semver.intersects(manifestAt(ROOT).engines!.node!, `${line}.x`)).toBe(true);
  });
});
