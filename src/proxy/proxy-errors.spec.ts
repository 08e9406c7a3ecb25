import { BodyTooLargeError, toProxyErrorResponse, upstreamErrorKind, UpstreamTimeoutError } from './proxy-errors.js';

describe('toProxyErrorResponse', () => {
  it('maps each failure to its status', () => {
    expect(toProxyErrorResponse(new UpstreamTimeoutError(200))).toEqual({
      statusCode: 504,
      error: 'Gateway Timeout',
      message: 'The service did not answer within 200 ms',
    });
    expect(toProxyErrorResponse(new BodyTooLargeError(10)).statusCode).toBe(413);
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(toProxyErrorResponse(refused)).toEqual({ statusCode: 502, error: 'Bad Gateway', message: 'The service is unavailable' });
  });
});

describe('upstreamErrorKind', () => {
  it('tells refusals, timeouts and resets apart', () => {
    const withCode = (code: string) => Object.assign(new Error(code), { code });
    expect(upstreamErrorKind(new UpstreamTimeoutError(1))).toBe('timeout');
    expect(upstreamErrorKind(withCode('ECONNREFUSED'))).toBe('refused');
    expect(upstreamErrorKind(withCode('ECONNRESET'))).toBe('reset');
    expect(upstreamErrorKind(withCode('EPIPE'))).toBe('reset');
    expect(upstreamErrorKind(withCode('ENOTFOUND'))).toBe('other');
  });
});
