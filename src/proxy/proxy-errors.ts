import { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse, STATUS_CODES } from 'node:http';
import { RETRY_CONDITIONS } from '../config/gateway-options.interface.js';
import { writeJsonAnswer } from '../gateway.errors.js';
import type { ResponseTap } from './response-tap.js';
import { assignHeaderList } from './upstream-headers.js';

/** Body of every error the proxy writes itself: the shape of Nest's HttpException responses. */
export interface ProxyErrorBody {
  statusCode: number;
  error: string;
  message: string;
}

/** How an exchange with a service failed, as the metrics count it. */
export type UpstreamErrorKind = 'refused' | 'timeout' | 'reset' | 'other';

/** A service's answers that count as its failure (and that a route's retry rules may send again). */
export const FAILURE_STATUSES: ReadonlySet<number> = new Set(RETRY_CONDITIONS.filter((condition) => /^\d+$/.test(condition)).map(Number));

/** What `Retry-After` says on a gateway's own 503 (no target, no room): worth asking again shortly. */
export const RETRY_AFTER_SECONDS = '1';

/** The request body is larger than the route's `bodyLimit`. */
export class BodyTooLargeError extends Error {
  readonly code = 'GATEWAY_BODY_TOO_LARGE';
  constructor(readonly limitBytes: number) {
    super(`Request body is larger than ${limitBytes} bytes`);
  }
}

/** The client's request body went silent longer than the route's `requestBodyTimeout`. */
export class BodyIdleError extends Error {
  readonly code = 'GATEWAY_BODY_IDLE';
  constructor(readonly idleMs: number) {
    super(`The request body stalled for more than ${idleMs} ms`);
  }
}

/** No target of the route can take a request now (all ejected or failing their checks). */
export class NoTargetError extends Error {
  readonly code = 'GATEWAY_NO_TARGET';
  constructor() {
    super('No target of the route is available');
  }
}

/** The client framed its body in a way the gateway does not forward. */
export class UnsupportedFramingError extends Error {
  readonly code = 'GATEWAY_UNSUPPORTED_FRAMING';
  constructor(transferEncoding: string) {
    super(`Transfer-Encoding '${transferEncoding}' is not supported (only 'chunked')`);
  }
}

/**
 * The service answered with a failure (a 5xx) that was not passed on: what requests waiting for
 * that answer are told, so that each answers as it would have (a stale entry, or this status).
 */
export class FailedAnswerError extends Error {
  readonly code = 'GATEWAY_FAILED_ANSWER';
  constructor(readonly statusCode: number) {
    super(`The service answered ${statusCode}`);
  }
}

interface ErrorRow {
  statusCode: number;
  message: string;
  /** What the metrics count it as; absent for failures that are the client's, not the service's. */
  kind?: UpstreamErrorKind;
}

const row = (statusCode: number, message: string, kind?: UpstreamErrorKind): ErrorRow => ({ statusCode, message, kind });
const UNAVAILABLE = 'The service is unavailable';
const TIMED_OUT = 'The service did not answer in time';

// One table from every failure of a forwarded exchange to what the client is told, as
// @fastify/reply-from `lib/errors.js`: undici's codes, Node's socket codes, the gateway's own.
const ERROR_TABLE: Record<string, ErrorRow> = {
  ECONNREFUSED: row(502, UNAVAILABLE, 'refused'),
  ECONNRESET: row(502, UNAVAILABLE, 'reset'),
  EPIPE: row(502, UNAVAILABLE, 'reset'),
  UND_ERR_SOCKET: row(502, UNAVAILABLE, 'reset'),
  UND_ERR_CLOSED: row(502, UNAVAILABLE, 'reset'),
  UND_ERR_CONNECT_TIMEOUT: row(504, TIMED_OUT, 'timeout'),
  UND_ERR_HEADERS_TIMEOUT: row(504, TIMED_OUT, 'timeout'),
  UND_ERR_BODY_TIMEOUT: row(504, TIMED_OUT, 'timeout'),
  UND_ERR_INFO: row(502, UNAVAILABLE, 'other'),
  GATEWAY_NO_TARGET: row(503, 'No target of the route is available', 'other'),
};

/** Maps a failure of a forwarded exchange to its status, message and metrics kind. */
function errorRow(error: Error): ErrorRow {
  if (error instanceof BodyTooLargeError) return row(413, error.message);
  if (error instanceof UnsupportedFramingError) return row(501, error.message);
  if (error instanceof BodyIdleError) return row(408, error.message);
  if (error instanceof FailedAnswerError) return row(error.statusCode, 'The service failed', 'other');
  const code = (error as NodeJS.ErrnoException).code;
  // Refused, DNS failure, TLS failure, a response undici could not parse: unreachable.
  return (code && ERROR_TABLE[code]) || row(502, UNAVAILABLE, 'other');
}

/** What the client is told of a failed exchange. */
export function toProxyErrorResponse(error: Error): ProxyErrorBody {
  const { statusCode, message } = errorRow(error);
  return { statusCode, error: STATUS_CODES[statusCode]!, message };
}

/** How the exchange failed on the service's side, or undefined when the client was at fault. */
export function upstreamErrorKind(error: Error): UpstreamErrorKind | undefined {
  return errorRow(error).kind;
}

/**
 * Answers a request the service failed, or the gateway could not send, before any answer went
 * out: with what the request falls back on, if it has something, else with the error.
 */
export function answerFailure(
  request: Parameters<typeof writeProxyError>[0] & { tap?: ResponseTap; fallBack?(status: number | undefined): boolean },
  error: Error,
): void {
  if (request.fallBack && !request.res.headersSent) {
    const { statusCode, kind } = errorRow(error);
    if (request.fallBack(kind ? statusCode : undefined)) return;
  }
  writeProxyError(request, error, request.tap?.failureHeaders?.());
}

/** Writes the error a failed exchange answers with, once, or cuts a response already begun. */
export function writeProxyError(
  { req, res, id, addedHeaders }: { req: IncomingMessage; res: ServerResponse; id: string; addedHeaders?: readonly string[] },
  error: Error,
  tapHeaders?: readonly string[],
): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = toProxyErrorResponse(error);
  const headers: OutgoingHttpHeaders = {
    'x-request-id': id,
    // A route with no target to take requests: worth asking again shortly.
    ...(body.statusCode === 503 ? { 'retry-after': RETRY_AFTER_SECONDS } : {}),
    // The unread rest of a refused body would otherwise be parsed as the next request.
    ...(req.complete ? {} : { connection: 'close' }),
  };
  assignHeaderList(headers, tapHeaders);
  assignHeaderList(headers, addedHeaders);
  writeJsonAnswer(res, body.statusCode, body, headers);
}
