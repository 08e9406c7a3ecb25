import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createGatewayLogger, PinoNestLogger, prettyOutput } from './logger.js';

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

describe('PinoNestLogger', () => {
  it("maps Nest's levels onto pino's and keeps context, stack and non-string messages", () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const nest = new PinoNestLogger(pino({ level: 'trace', base: undefined, timestamp: false }, stream));
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
    new PinoNestLogger(pino({ level: 'warn' }, stream)).log('hidden', 'App');
    expect(lines).toEqual([]);
  });
});
