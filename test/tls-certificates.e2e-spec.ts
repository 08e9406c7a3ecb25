import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { LoggerService } from '@nestjs/common';
import type { GatewayOptions } from '../src/index.js';
import { resolveGatewayOptions } from '../src/config/resolve-options.js';
import { createListener, readCertificatePair, StartupError, watchCertificates } from '../src/server/index.js';
import { createTestCa, type IssuedCertificate, type TestCa } from './support/certificates.js';
import { gatewayModule, startApp } from './support/gateway.js';
import { configFile, isAlive, MAIN, startStandalone } from './support/standalone.js';
import { listeningWorkers } from './support/supervised.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { until } from './support/wait.js';

/** The certificate a new TLS handshake with the gateway gets. */
function fingerprintOf(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ port, host: '127.0.0.1', ca }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

/** `GET path` on an open HTTP/2 session: its status. */
async function statusOn(session: ClientHttp2Session, path: string): Promise<number> {
  const stream = session.request({ ':path': path });
  const [headers] = (await once(stream, 'response')) as [Record<string, number>];
  stream.resume();
  await once(stream, 'end');
  return headers[':status'];
}

/** Puts `issued` at `cert`/`key` the way certbot and Kubernetes do: written aside, then renamed over. */
function replaceByRename(issued: IssuedCertificate, cert: string, key: string): void {
  copyFileSync(issued.keyFile, `${key}.new`);
  copyFileSync(issued.certFile, `${cert}.new`);
  renameSync(`${key}.new`, key);
  renameSync(`${cert}.new`, cert);
}

const recordingLogger = (lines: string[]): LoggerService => ({
  log: (message: string) => void lines.push(`log: ${message}`),
  warn: (message: string) => void lines.push(`warn: ${message}`),
  error: (message: string) => void lines.push(`error: ${message}`),
});

describe('TLS certificates', () => {
  let ca: TestCa;
  let first: IssuedCertificate;
  let second: IssuedCertificate;
  let third: IssuedCertificate;
  let upstream: Upstream;
  /** Answers after 700 ms. */
  let slow: Upstream;
  /** A directory holding `tls.crt` and `tls.key`, first's. */
  const freshDirectory = () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-certs-'));
    copyFileSync(first.certFile, join(dir, 'tls.crt'));
    copyFileSync(first.keyFile, join(dir, 'tls.key'));
    return { dir, cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') };
  };

  beforeAll(async () => {
    ca = createTestCa();
    first = ca.issue('first');
    second = ca.issue('second');
    third = ca.issue('third');
    upstream = await startUpstream();
    slow = await startUpstream((_req, res) => setTimeout(() => res.end('finished'), 700));
  });
  afterAll(async () => {
    await upstream.close();
    await slow.close();
  });

  describe('at start-up', () => {
    it('names the field and the path of a file it cannot read, and server.tls for a key of another certificate', () => {
      const { cert, key, dir } = freshDirectory();
      expect(() => readCertificatePair({ cert: join(dir, 'missing.crt'), key })).toThrow(new StartupError(`server.tls.cert: cannot read '${join(dir, 'missing.crt')}' (ENOENT)`));
      expect(() => readCertificatePair({ cert, key: join(dir, 'missing.key') })).toThrow(`server.tls.key: cannot read '${join(dir, 'missing.key')}'`);
      const stray = ca.strayKey('stray');
      expect(() => readCertificatePair({ cert, key: stray })).toThrow(`server.tls: the key in '${stray}' does not match the certificate in '${cert}'`);
      writeFileSync(join(dir, 'junk.pem'), 'not a certificate');
      expect(() => readCertificatePair({ cert: join(dir, 'junk.pem'), key })).toThrow(`server.tls.cert: '${join(dir, 'junk.pem')}' holds no PEM certificate`);
      expect(() => readCertificatePair({ cert, key: join(dir, 'junk.pem') })).toThrow(`server.tls.key: '${join(dir, 'junk.pem')}' holds no PEM private key`);
    });

    it.each([
      ['an unreadable certificate', (dir: string) => ({ cert: join(dir, 'nope.crt'), key: join(dir, 'tls.key') }), /server\.tls\.cert: cannot read '.*nope\.crt' \(ENOENT\)/],
      ['a key of another certificate', (dir: string) => ({ cert: join(dir, 'tls.crt'), key: ca.strayKey('other') }), /server\.tls: the key in '.*other\.key' does not match the certificate/],
      ['TLS 1.1 as minVersion', (dir: string) => ({ cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), minVersion: 'TLSv1.1' }), /server\.tls\.minVersion.*TLSv1\.2 or TLSv1\.3/],
    ])('the standalone gateway exits 1 on %s, saying which field', async (_what, tls, message) => {
      const { dir } = freshDirectory();
      const child = spawn(process.execPath, [MAIN], {
        env: { ...process.env, GATEWAY_CONFIG: await configFile({ routes: [{ prefix: '/api', target: upstream.url }], server: { tls: tls(dir) } }), PORT: '0', HOST: '127.0.0.1' },
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
      const [code] = await once(child, 'exit');
      expect(code).toBe(1);
      expect(stderr).toMatch(message);
      expect(stderr).not.toMatch(/\n\s+at /);
    });
  });

  describe('reload without restart (in process)', () => {
    it('gives new handshakes a pair replaced by rename, keeps open connections on theirs, and keeps the running pair while the other half is missing', async () => {
      const files = freshDirectory();
      const options: GatewayOptions = { routes: [{ prefix: '/api', target: upstream.url }], server: { tls: { cert: files.cert, key: files.key }, http2: true } };
      const { server } = resolveGatewayOptions(options);
      const pair = readCertificatePair(server.tls!);
      const listener = createListener(server, { headersTimeout: 10_000 }, pair)!;
      const gateway = await startApp(gatewayModule(options), { serverFactory: listener.serverFactory as never });
      const lines: string[] = [];
      const stop = watchCertificates(server.tls!, pair, (next) => listener.setCertificate(next), recordingLogger(lines));
      const port = Number(new URL(gateway.url).port);
      try {
        const open = h2connect(gateway.url, { ca: ca.ca });
        expect(await statusOn(open, '/api/before')).toBe(200);
        expect(await fingerprintOf(port, ca.ca)).toBe(first.fingerprint);

        replaceByRename(second, files.cert, files.key);
        await until(async () => (await fingerprintOf(port, ca.ca)) === second.fingerprint, 'new handshakes to get the second certificate', 5000);
        expect(lines.some((line) => line.startsWith(`log: TLS certificate reloaded from ${files.cert} (SHA-256 ${second.fingerprint}`))).toBe(true);
        // The connection opened before goes on, with the certificate it was given.
        expect(await statusOn(open, '/api/after')).toBe(200);
        expect((open.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256).toBe(first.fingerprint);
        open.close();

        // Half-written: the key is third's, the certificate still second's.
        copyFileSync(third.keyFile, files.key);
        await until(() => lines.some((line) => line.includes('does not match')), 'the mismatch to be reported', 5000);
        expect(lines.filter((line) => line.startsWith('warn:'))).toEqual([
          `warn: TLS certificate not reloaded, the running one stays: server.tls: the key in '${files.key}' does not match the certificate in '${files.cert}'; reading it again in 1000 ms`,
        ]);
        expect(await fingerprintOf(port, ca.ca)).toBe(second.fingerprint);
        // The certificate follows: applied by the next event, or by the retry.
        copyFileSync(third.certFile, files.cert);
        await until(async () => (await fingerprintOf(port, ca.ca)) === third.fingerprint, 'the completed pair to be applied', 5000);

        // Gone for a moment (a secret being swapped): the running pair stays, and is read again.
        rmSync(files.key);
        await until(() => lines.some((line) => line.includes('cannot read the pair (ENOENT)')), 'the missing file to be reported', 5000);
        copyFileSync(first.keyFile, files.key);
        copyFileSync(first.certFile, files.cert);
        await until(async () => (await fingerprintOf(port, ca.ca)) === first.fingerprint, 'the pair to be read again', 5000);
      } finally {
        stop();
        await gateway.close();
      }
    });

    it('reloads on SIGHUP what no watched directory shows (a file behind a link), and reports a pair it cannot apply', async () => {
      const real = freshDirectory();
      const linked = mkdtempSync(join(tmpdir(), 'gw-linked-'));
      symlinkSync(real.cert, join(linked, 'tls.crt'));
      symlinkSync(real.key, join(linked, 'tls.key'));
      const files = { cert: join(linked, 'tls.crt'), key: join(linked, 'tls.key'), minVersion: 'TLSv1.2' as const };
      const applied: string[] = [];
      const lines: string[] = [];
      let refuse = true;
      const stop = watchCertificates(files, readCertificatePair(files), (pair) => {
        if (refuse) throw new Error('no TLS server here');
        applied.push(pair.cert);
      }, recordingLogger(lines));
      try {
        // Written in place where the links point: nothing changes in the watched directory.
        copyFileSync(second.keyFile, real.key);
        copyFileSync(second.certFile, real.cert);
        await new Promise((resolve) => setTimeout(resolve, 800));
        expect(lines).toEqual([]);
        process.emit('SIGHUP', 'SIGHUP');
        await until(() => lines.length > 0, 'the reload', 5000);
        expect(lines).toEqual(['error: TLS certificate not reloaded, the running one stays: no TLS server here']);
        refuse = false;
        process.emit('SIGHUP', 'SIGHUP');
        await until(() => applied.length > 0, 'the reload', 5000);
        expect(applied).toEqual([second.cert]);
        // The same pair again: nothing to apply.
        process.emit('SIGHUP', 'SIGHUP');
        await new Promise((resolve) => setTimeout(resolve, 600));
        expect(applied).toHaveLength(1);
      } finally {
        stop();
      }
    });
  });

  describe('reload without restart (standalone processes)', () => {
    it('one process: a pair replaced by rename reaches new handshakes, the PID stays, HTTP/1.1 and HTTP/2 still served', async () => {
      const files = freshDirectory();
      const gateway = await startStandalone({ routes: [{ prefix: '/api', target: upstream.url }], server: { tls: { cert: files.cert, key: files.key }, http2: true } });
      const port = Number(new URL(gateway.url).port);
      const pid = gateway.child.pid!;
      const open = h2connect(gateway.url, { ca: ca.ca });
      expect(await statusOn(open, '/api/one')).toBe(200);
      replaceByRename(second, files.cert, files.key);
      await until(async () => (await fingerprintOf(port, ca.ca)) === second.fingerprint, 'new handshakes to get the second certificate', 8000);
      expect(await statusOn(open, '/api/two')).toBe(200);
      open.close();
      expect(gateway.child.pid).toBe(pid);
      expect(isAlive(pid)).toBe(true);
      gateway.child.kill('SIGTERM');
      expect(await gateway.exited).toBe(0);
    });

    it('supervised workers: SIGHUP to the primary replaces them, an open HTTP/2 session gets GOAWAY after its request in flight, and the new workers read the certificate on disk', async () => {
      const files = freshDirectory();
      const gateway = await startStandalone(
        { routes: [{ prefix: '/api', target: upstream.url }, { prefix: '/slow', target: slow.url }], server: { tls: { cert: files.cert, key: files.key }, http2: true } },
        { GATEWAY_WORKERS: '1' },
      );
      const [old] = listeningWorkers(gateway.output());
      const port = Number(new URL(gateway.url).port);
      const open = h2connect(gateway.url, { ca: ca.ca });
      expect(await statusOn(open, '/api/warm')).toBe(200);
      const goaway = once(open, 'goaway');
      const inFlight = statusOn(open, '/slow/request');
      await until(() => slow.seen.length > 0, 'the request to reach the service');
      // Written in place, then SIGHUP: the primary reloads, whatever the workers' watches saw.
      copyFileSync(second.keyFile, files.key);
      copyFileSync(second.certFile, files.cert);
      gateway.child.kill('SIGHUP');
      expect(await inFlight).toBe(200);
      await goaway;
      await until(() => listeningWorkers(gateway.output()).length === 2, 'the new worker to listen', 15_000);
      await until(() => !isAlive(old.pid), 'the old worker to exit', 15_000);
      expect(await fingerprintOf(port, ca.ca)).toBe(second.fingerprint);
      const next = h2connect(gateway.url, { ca: ca.ca });
      expect(await statusOn(next, '/api/after')).toBe(200);
      next.close();
      open.destroy();
      expect(isAlive(gateway.child.pid!)).toBe(true);
      gateway.child.kill('SIGTERM');
      expect(await gateway.exited).toBe(0);
    });

    it('supervised workers: each worker swaps its own certificate, none restarts', async () => {
      const files = freshDirectory();
      const gateway = await startStandalone({ routes: [{ prefix: '/api', target: upstream.url }], server: { tls: { cert: files.cert, key: files.key } } }, { GATEWAY_WORKERS: '2' });
      await until(() => listeningWorkers(gateway.output()).length === 2, 'both workers to listen', 15_000);
      const workers = listeningWorkers(gateway.output()).map((worker) => worker.pid);
      const port = Number(new URL(gateway.url).port);
      replaceByRename(second, files.cert, files.key);
      // Each worker logs its own reload: both swapped, whichever takes the next handshake.
      await until(() => (gateway.output().match(/TLS certificate reloaded/g) ?? []).length === 2, 'both workers to reload', 8000);
      for (let i = 0; i < 6; i++) expect(await fingerprintOf(port, ca.ca)).toBe(second.fingerprint);
      expect(listeningWorkers(gateway.output()).map((worker) => worker.pid)).toEqual(workers);
      for (const pid of workers) expect(isAlive(pid)).toBe(true);
      gateway.child.kill('SIGTERM');
      expect(await gateway.exited).toBe(0);
    });
  });
});
