import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createGatewayLogger, infoLineWriter, jsonLogger, GatewayNestLogger, prettyOutput } from './logger.js';

describe('createGatewayLogger', () => {
  it('takes its level from LOG_LEVEL, info by default', () => {
    expect(createGatewayLogger({ LOG_LEVEL: 'debug' }, false).level).toBe('debug');
    expect(createGatewayLogger({}, false).level).toBe('info');
  });

  it('prints through pino-pretty on a terminal', () => {
    const logger = createGatewayLogger({}, true);
    expect(logger.level).toBe('info');
    logger.flush();
  });
});

describe('infoLineWriter', () => {
  const capture = () => {
    const lines: string[] = [];
    return { lines, destination: { write: (line: string) => void lines.push(line) } };
  };
  const withoutTime = (line: string) => line.replace(/"time":\d+/, '"time":0');

  it("writes, for the gateway's own JSON logger, the very line pino writes", () => {
    const { lines, destination } = capture();
    const logger = jsonLogger('info', destination);
    const fields = { reqId: 'r-1', url: '/a?q="x"\\\n\u0001é', status: 200, durationMs: 1.25, cache: '-', skipped: undefined, aborted: true, ratio: Number.NaN };
    logger.info(fields);
    infoLineWriter(logger)(fields);
    expect(lines).toHaveLength(2);
    expect(withoutTime(lines[1])).toBe(withoutTime(lines[0]));
    expect(JSON.parse(lines[1])).toMatchObject({ level: 30, pid: process.pid, url: '/a?q="x"\\\n\u0001é', ratio: null });
  });

  it('writes a line without fields as valid JSON', () => {
    const { lines, destination } = capture();
    infoLineWriter(jsonLogger('info', destination))({});
    expect(JSON.parse(lines[0])).toEqual({ level: 30, time: expect.any(Number), pid: process.pid });
  });

  it("leaves any other logger's lines to it: its mixins, redaction and bindings apply", () => {
    const { lines, destination } = capture();
    const hostLogger = pino({ mixin: () => ({ app: 'host' }), redact: ['url'] }, destination).child({ module: 'edge' });
    infoLineWriter(hostLogger)({ url: '/secret', status: 200 });
    expect(JSON.parse(lines[0])).toMatchObject({ app: 'host', module: 'edge', url: '[Redacted]', status: 200 });
  });
});

describe('prettyOutput', () => {
  it('is on only for a terminal where pino-pretty resolves', () => {
    expect(prettyOutput(false)).toBe(false);
    expect(prettyOutput(true)).toBe(true);
  });

  it('stays off on a terminal without pino-pretty (a production install)', () => {
    const missing = (id: string): string => {
      throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
    };
    expect(prettyOutput(true, missing)).toBe(false);
  });
});

describe('GatewayNestLogger', () => {
  it("maps Nest's levels onto pino's and keeps context, stack and non-string messages", () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const nest = new GatewayNestLogger(pino({ level: 'trace', base: undefined, timestamp: false }, stream));
    nest.log('started', 'App');
    nest.warn('careful', 'App');
    nest.debug('details', 'App');
    nest.verbose('more', 'App');
    nest.fatal('down', 'App');
    nest.error('failed', 'Error: x\n    at y', 'App');
    nest.error('failed without stack', 'App');
    nest.log({ routes: 2 }, 'App');
    expect(lines).toEqual([
      { level: 30, context: 'App', msg: 'started' },
      { level: 40, context: 'App', msg: 'careful' },
      { level: 20, context: 'App', msg: 'details' },
      { level: 10, context: 'App', msg: 'more' },
      { level: 60, context: 'App', msg: 'down' },
      { level: 50, context: 'App', stack: 'Error: x\n    at y', msg: 'failed' },
      { level: 50, context: 'App', msg: 'failed without stack' },
      { level: 30, context: 'App', detail: { routes: 2 } },
    ]);
  });

  it('skips levels the logger filters out', () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    new GatewayNestLogger(pino({ level: 'warn' }, stream)).log('hidden', 'App');
    expect(lines).toEqual([]);
  });
});
