import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startUpstream, type Upstream } from './support/upstream.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
// Bounds on what may hang (npm, a host that never listens), not expectations of speed.
const NPM_TIMEOUT_MS = 180_000;
const HOST_TIMEOUT_MS = 60_000;

/**
 * The host's Nest: the oldest releases of the 12 line, which the peer ranges admit, and which a
 * dependency on the Nest this project builds with (12.5) would not: npm would nest a second copy.
 */
const OLDEST_NEST = { '@nestjs/common': '12.0.1', '@nestjs/core': '12.0.1', '@nestjs/platform-fastify': '12.0.1' };

/** The version of a package in this project's install, which package-lock.json pins. */
const installed = (name: string): string =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

// A host app as users write one, in plain ESM: its own Nest, the gateway under its module.
const HOST_MAIN = `import 'reflect-metadata';
import { createRequire } from 'node:module';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { GatewayModule } from 'nest-gateway';

const fromHost = createRequire(import.meta.url);
const fromGateway = createRequire(fromHost.resolve('nest-gateway'));

console.log(JSON.stringify({
  coreFromHost: fromHost.resolve('@nestjs/core'),
  coreFromGateway: fromGateway.resolve('@nestjs/core'),
  commonFromHost: fromHost.resolve('@nestjs/common'),
  commonFromGateway: fromGateway.resolve('@nestjs/common'),
}));

class HostModule {}
Module({ imports: [GatewayModule.forRoot({ routes: [{ prefix: '/api', target: process.env.UPSTREAM_URL }] })] })(HostModule);

const app = await NestFactory.create(HostModule, new FastifyAdapter(), { logger: ['error'] });
app.enableShutdownHooks();
await app.listen(0, '127.0.0.1');
console.log(JSON.stringify({ url: await app.getUrl() }));
`;

interface HostReport {
  url: string;
  coreFromHost: string;
  coreFromGateway: string;
  commonFromHost: string;
  commonFromGateway: string;
}

/** Runs the host app and waits until it listens: it prints where it found Nest, then its URL. */
function startHost(dir: string, upstreamUrl: string): { child: ChildProcess; report: Promise<HostReport> } {
  const child = spawn(process.execPath, ['main.mjs'], { cwd: dir, env: { ...process.env, UPSTREAM_URL: upstreamUrl }, timeout: HOST_TIMEOUT_MS });
  let output = '';
  const report = new Promise<HostReport>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const lines = output.split('\n').filter((text) => text.startsWith('{') && text.endsWith('}'));
      const report = Object.assign({}, ...lines.map((line) => JSON.parse(line) as Partial<HostReport>)) as HostReport;
      if (report.url !== undefined) resolve(report);
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code, signal) => reject(new Error(`host exited (${code ?? signal}) before listening:\n${output}`)));
  });
  return { child, report };
}

// A Nest library that depends on Nest, instead of peering with it, can bring a second copy into
// the host app: a second ModuleRef, Reflector and set of DI tokens, and providers that no longer
// match. The package as npm installs it, from `npm pack` of the build, beside the host's own Nest.
describe('the packed package in a host app', () => {
  let work: string;
  let host: string;
  let upstream: Upstream;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'gw-packaging-'));
    upstream = await startUpstream();
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT, timeout: NPM_TIMEOUT_MS });
    const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
    host = join(work, 'host');
    await mkdir(host);
    const dependencies = { ...OLDEST_NEST, ...Object.fromEntries(['reflect-metadata', 'rxjs'].map((name) => [name, installed(name)])) };
    await writeFile(
      join(host, 'package.json'),
      JSON.stringify({ name: 'host-app', private: true, type: 'module', dependencies: { ...dependencies, 'nest-gateway': `file:${join(work, filename)}` } }),
    );
    await writeFile(join(host, 'main.mjs'), HOST_MAIN);
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: host, timeout: NPM_TIMEOUT_MS });
  }, 2 * NPM_TIMEOUT_MS);

  afterAll(async () => {
    if (child?.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await upstream?.close();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('leaves one copy of Nest, the host\'s, and proxies to a service from a host module', async () => {
    const started = startHost(host, upstream.url);
    child = started.child;
    const report = await started.report;

    expect(report.coreFromGateway).toBe(report.coreFromHost);
    expect(report.commonFromGateway).toBe(report.commonFromHost);
    expect(report.coreFromHost.startsWith(join(host, 'node_modules', '@nestjs', 'core'))).toBe(true);

    const response = await fetch(`${report.url}/api/hello?from=host`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { url: string }).url).toBe('/hello?from=host');
    expect(upstream.seen.map((seen) => seen.url)).toEqual(['/hello?from=host']);
  });
});
