import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommand, USAGE } from './parse-command.js';

function capture() {
  const written = { out: '', err: '' };
  return { written, output: { out: (text: string) => (written.out += text), err: (text: string) => (written.err += text) } };
}

async function file(name: string, content: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'gw-cli-')), name);
  await writeFile(path, content);
  return path;
}

describe('parseCommand', () => {
  it('turns the flags into the environment of the server', async () => {
    const { output } = capture();
    expect(await parseCommand(['--config', 'a.yaml', '--port', '9000', '--host', '127.0.0.1', '--workers', 'auto'], output, '1.2.3')).toEqual({
      serve: { GATEWAY_CONFIG: 'a.yaml', PORT: '9000', HOST: '127.0.0.1', GATEWAY_WORKERS: 'auto' },
    });
    expect(await parseCommand(['-c', 'b.json', '-p', '1', '-w', '2'], output, '1.2.3')).toEqual({
      serve: { GATEWAY_CONFIG: 'b.json', PORT: '1', GATEWAY_WORKERS: '2' },
    });
    expect(await parseCommand([], output, '1.2.3')).toEqual({ serve: {} });
  });

  it('prints the usage and the version', async () => {
    const { written, output } = capture();
    expect(await parseCommand(['--help'], output, '1.2.3')).toEqual({ exit: 0 });
    expect(await parseCommand(['-v'], output, '1.2.3')).toEqual({ exit: 0 });
    expect(written.out).toBe(`${USAGE}\n1.2.3\n`);
  });

  it('refuses unknown flags and commands with the usage and code 2', async () => {
    for (const args of [['--prot', '1'], ['serve'], ['validate'], ['validate', 'a', 'b']]) {
      const { written, output } = capture();
      expect(await parseCommand(args, output, '1.2.3')).toEqual({ exit: 2 });
      expect(written.err).toContain(USAGE);
    }
  });

  it('validates a config file: 0 when valid, 1 with every field at fault', async () => {
    const good = await file('good.yaml', 'routes:\n  - prefix: /api\n    target: http://127.0.0.1:3000\n');
    const bad = await file('bad.json', JSON.stringify({ routes: [{ prefix: 'api', target: 'ftp://x' }], extra: 1 }));
    const ok = capture();
    expect(await parseCommand(['validate', good], ok.output, '1.2.3')).toEqual({ exit: 0 });
    expect(ok.written.out).toBe(`${good}: valid, 1 route(s)\n`);
    const refused = capture();
    expect(await parseCommand(['validate', bad], refused.output, '1.2.3')).toEqual({ exit: 1 });
    expect(refused.written.err).toMatch(/routes\[0\]\.prefix: .*\n.*routes\[0\]\.target: expected an http/);
    expect(refused.written.err).toContain('(root): Unrecognized key: "extra"');
  });

  it('validates built-in middlewares as a start would: the name, and its options, by field path and file', async () => {
    const config = await file(
      'middlewares.yaml',
      [
        'routes:',
        '  - prefix: /public',
        '    target: http://127.0.0.1:3000',
        '  - prefix: /admin',
        '    target: http://127.0.0.1:3001',
        '    middlewares:',
        '      - use: basicAuth',
        '        options: { user: admin }',
        '      - use: rateLimiter',
        '',
      ].join('\n'),
    );
    const refused = capture();
    expect(await parseCommand(['validate', config], refused.output, '1.2.3')).toEqual({ exit: 1 });
    expect(refused.written.err).toContain(`Invalid gateway config in ${config}:`);
    expect(refused.written.err).toMatch(/routes\[1\]\.middlewares\[0\]\.options: .*"user"/);
    expect(refused.written.err).toContain("routes[1].middlewares[1].use: unknown middleware 'rateLimiter'");
  });
});
