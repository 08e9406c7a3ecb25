import { DEFAULT_CONFIG_FILE, readServerEnvironment, StartupError, toListenError } from './environment.js';

describe('readServerEnvironment', () => {
  it('fills the defaults, and reads each variable', () => {
    expect(readServerEnvironment({}, 8)).toEqual({ configFile: DEFAULT_CONFIG_FILE, port: 8080, host: '0.0.0.0', logLevel: 'info', workers: undefined });
    expect(readServerEnvironment({ GATEWAY_CONFIG: 'a.yaml', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', GATEWAY_WORKERS: 'auto' }, 8)).toEqual({
      configFile: 'a.yaml',
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      workers: 8,
    });
    expect([' ', '3'].map((value) => readServerEnvironment({ GATEWAY_WORKERS: value }, 8).workers)).toEqual([1, 3]);
    expect(readServerEnvironment({ PORT: '65535', LOG_LEVEL: 'trace' }, 8)).toMatchObject({ port: 65535, logLevel: 'trace' });
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT \(--port\): expected a port number from 0 to 65535 .*got 'abc'$/],
    [{ PORT: '65536' }, /^PORT .*got '65536'$/],
    [{ PORT: '-1' }, /^PORT .*got '-1'$/],
    [{ LOG_LEVEL: 'verbose' }, /^LOG_LEVEL: expected one of trace, debug, info, warn, error, fatal, silent, got 'verbose'$/],
    [{ GATEWAY_WORKERS: '0' }, /^GATEWAY_WORKERS \(--workers\): expected a positive integer or "auto", got '0'$/],
    [{ GATEWAY_WORKERS: '1.5' }, /^GATEWAY_WORKERS/],
    [{ GATEWAY_WORKERS: 'many' }, /^GATEWAY_WORKERS/],
  ])('refuses %j in one line naming the variable and what it takes', (env, message) => {
    expect(() => readServerEnvironment(env, 8)).toThrow(StartupError);
    expect(() => readServerEnvironment(env, 8)).toThrow(message);
  });
});

describe('toListenError', () => {
  it('says what the operator can do about a port or an address', () => {
    const failure = (code: string) => Object.assign(new Error(`listen ${code}`), { code });
    expect(toListenError(failure('EADDRINUSE'), '127.0.0.1', 80)).toEqual(new StartupError('Cannot listen on 127.0.0.1:80: the address is in use (another process listens on it): choose another PORT (--port), or stop that process'));
    for (const code of ['EACCES', 'EADDRNOTAVAIL', 'ENOTFOUND']) expect(toListenError(failure(code), 'h', 1)).toBeInstanceOf(StartupError);
    const other = failure('EOTHER');
    expect(toListenError(other, 'h', 1)).toBe(other);
    expect(toListenError(undefined, 'h', 1)).toBeUndefined();
  });
});
