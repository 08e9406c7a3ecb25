import { BodyTooLargeError, toProxyErrorResponse, UnsupportedFramingError, upstreamErrorKind } from './proxy-errors.js';

const withCode = (code: string) => Object.assign(new Error(code), { code });

describe('toProxyErrorResponse', () => {
  it('maps each failure to its status', () => {
    expect(toProxyErrorResponse(withCode('UND_ERR_HEADERS_TIMEOUT'))).toEqual({
      statusCode: 504,
      error: 'Gateway Timeout',
      message: 'The service did not answer in time',
    });
    expect(toProxyErrorResponse(withCode('UND_ERR_CONNECT_TIMEOUT')).statusCode).toBe(504);
    expect(toProxyErrorResponse(new BodyTooLargeError(10)).statusCode).toBe(413);
    expect(toProxyErrorResponse(new UnsupportedFramingError('identity, chunked'))).toEqual({
      statusCode: 501,
      error: 'Not Implemented',
      message: "Transfer-Encoding 'identity, chunked' is not supported (only 'chunked')",
    });
    expect(toProxyErrorResponse(withCode('GATEWAY_NO_TARGET')).statusCode).toBe(503);
    expect(toProxyErrorResponse(withCode('ECONNREFUSED'))).toEqual({ statusCode: 502, error: 'Bad Gateway', message: 'The service is unavailable' });
    expect(toProxyErrorResponse(withCode('ENOTFOUND')).statusCode).toBe(502);
  });
});

describe('upstreamErrorKind', () => {
  it('tells refusals, timeouts and resets apart, and leaves the client’s faults out', () => {
    expect(upstreamErrorKind(withCode('UND_ERR_BODY_TIMEOUT'))).toBe('timeout');
    expect(upstreamErrorKind(withCode('ECONNREFUSED'))).toBe('refused');
    expect(upstreamErrorKind(withCode('ECONNRESET'))).toBe('reset');
    expect(upstreamErrorKind(withCode('UND_ERR_SOCKET'))).toBe('reset');
    expect(upstreamErrorKind(withCode('EPIPE'))).toBe('reset');
    expect(upstreamErrorKind(withCode('ENOTFOUND'))).toBe('other');
    expect(upstreamErrorKind(new BodyTooLargeError(1))).toBeUndefined();
  });
});
