import type { UpstreamErrorKind } from '../metrics/index.js';
/** Body of every error the proxy writes itself: the shape of Nest's HttpException responses. */
export interface ProxyErrorBody {
  statusCode: number;
  error: string;
  message: string;
}

/** The target stayed silent longer than the route's `timeout`. */
export class UpstreamTimeoutError extends Error {
  readonly code = 'GATEWAY_UPSTREAM_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`The service did not answer within ${timeoutMs} ms`);
  }
}

/** The request body is larger than the route's `bodyLimit`. */
export class BodyTooLargeError extends Error {
  readonly code = 'GATEWAY_BODY_TOO_LARGE';
  constructor(readonly limitBytes: number) {
    super(`Request body is larger than ${limitBytes} bytes`);
  }
}

const BAD_GATEWAY: ProxyErrorBody = {
  statusCode: 502,
  error: 'Bad Gateway',
  message: 'The service is unavailable',
};

/** Maps any failure of a forwarded request to what the client is told. */
export function toProxyErrorResponse(error: unknown): ProxyErrorBody {
  if (error instanceof UpstreamTimeoutError) {
    return { statusCode: 504, error: 'Gateway Timeout', message: error.message };
  }
  if (error instanceof BodyTooLargeError) {
    return { statusCode: 413, error: 'Payload Too Large', message: error.message };
  }
  // Refused, DNS failure, reset before a response, TLS failure: the service could not be reached.
  return BAD_GATEWAY;
}

/** How an exchange with a service failed, for the metrics. */
export function upstreamErrorKind(error: Error): UpstreamErrorKind {
  if (error instanceof UpstreamTimeoutError) return 'timeout';
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  return 'other';
}
