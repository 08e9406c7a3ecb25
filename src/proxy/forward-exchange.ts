import type {
  AttemptFailure,
  AttemptWatch,
  AttemptPolicy,
  AttemptTarget,
  DispatchedAttempt,
  ProxyDrain,
  FailureStatus,
  ForwardAttempts,
  Forwarding,
  ForwardRequest,
} from './forward-contracts.js';
import { answerFailure, FAILURE_STATUSES, upstreamErrorKind, writeProxyError } from './proxy-errors.js';
import type { RequestBodyStream } from './request-body.js';
import { assignHeaderList, toClientHeaders, toHeaderObject, type ResponseHeaders } from './upstream-headers.js';

/**
 * How a service fails a request written on a connection it was closing (its idle timer fired
 * as the request went out): the socket ends or resets before any response byte.
 */
const RESET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
/** The service could not be reached: nothing of the request was sent. */
const CONNECT_ERROR_CODES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Signals undici to drop an attempt whose answer is being retried. */
const RETRYING = Object.assign(new Error('the answer is being retried'), { code: 'GATEWAY_RETRYING' });

/** The `Retry-After` of a raw head, if any. */
function retryAfterOf(rawHeaders: Buffer[]): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].length === 11 && rawHeaders[i].toString('latin1').toLowerCase() === 'retry-after') return rawHeaders[i + 1].toString('latin1');
  }
  return undefined;
}

/**
 * One exchange with the service, as undici's dispatch handler. The handler is undici's own
 * (`onConnect`/`onHeaders`/`onData`/`onComplete`/`onError`): the controller-style API wraps it
 * in an adapter that parses every head into an object first.
 */
export class ForwardExchange implements DispatchedAttempt, Forwarding, ForwardAttempts {
  private abortUpstream?: (reason?: Error) => void;
  attempts = 0;
  watch?: AttemptWatch;
  private forwarder?: AttemptTarget;
  /** The attempt's answer was dropped for a retry: its end is not the exchange's. */
  private dropping = false;
  private resume?: () => void;
  /** The head was handed on: from here, a failure cuts the response instead of answering. */
  private started = false;
  private finished = false;
  private abandoned = false;
  /** The client left while the tap still wanted the response: it is read for the tap alone. */
  private detached = false;
  /** The latest chunk the tap keeps, not yet written to the client. */
  private lastChunk?: Buffer;

  /** @param declaredLength the client's `Content-Length`, sent on when it framed the body. */
  constructor(
    readonly request: ForwardRequest,
    private readonly drain: ProxyDrain,
    readonly body: RequestBodyStream | null,
    readonly declaredLength: string | undefined,
    private readonly policy: AttemptPolicy,
  ) {}

  replayable(): boolean {
    // Once the service has read some of the body, it cannot be sent to another.
    return this.body === null || !this.body.readableDidRead;
  }

  get target(): string | undefined {
    return this.forwarder?.href;
  }

  sendTo(forwarder: AttemptTarget, fresh: boolean): void {
    // The client left while a retry waited: nothing more comes, for the cache either.
    if (this.abandoned) return this.request.tap?.abort();
    forwarder.send(this, fresh);
  }

  attemptOn(forwarder: AttemptTarget): void {
    this.policy.sent?.(forwarder);
    this.attempts += 1;
    this.watch = this.request.watchAttempt?.(forwarder.url, this.attempts);
    this.forwarder = forwarder;
    this.abortUpstream = undefined;
    this.dropping = false;
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.abandoned) abort();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx: informational (a service's own `100 Continue`), not the response.
    if (statusCode < 200) return true;
    this.watch?.answered(statusCode);
    if (FAILURE_STATUSES.has(statusCode) && !this.abandoned) {
      const failure: AttemptFailure = { kind: String(statusCode) as FailureStatus, status: statusCode, retryAfter: retryAfterOf(rawHeaders) };
      const forwarder = this.forwarder!;
      if (this.policy.failed(this, failure, forwarder)) return this.drop();
    }
    this.policy.answered?.(this.forwarder!, statusCode);
    // The service's failure, not passed on when the request has something better to answer with.
    if (statusCode >= 500 && !this.abandoned && this.request.fallBack?.(statusCode)) {
      this.finished = true;
      this.releaseBody();
      return this.drop();
    }
    this.resume = resume;
    const list = toClientHeaders(rawHeaders, this.forwarder!.dropResponseHeaders);
    const { tap, receiver } = this.request;
    if (!tap && !receiver) {
      this.started = true;
      this.writeHead(statusCode, list);
      return true;
    }
    const headers = toHeaderObject(list);
    const held = tap?.head(statusCode, headers);
    if (held) {
      void held.then(() => this.start(statusCode, headers)).then(resume, (error: Error) => this.abortUpstream?.(error));
      return false;
    }
    this.start(statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.dropping) return true;
    const { tap, receiver, res } = this.request;
    const kept = tap?.chunk(chunk) === true;
    if (this.detached) {
      if (!kept) this.stop();
      return true;
    }
    if (receiver) return receiver.data(chunk, this.resume!);
    if (kept) {
      // A client may hold the whole answer before its end is written (a `Content-Length`
      // body): the last chunk goes out with the end, once the tap is done with it.
      const previous = this.lastChunk;
      this.lastChunk = chunk;
      if (previous) res.write(previous);
      return true;
    }
    if (this.lastChunk) {
      res.write(this.lastChunk);
      this.lastChunk = undefined;
    }
    if (res.write(chunk)) return true;
    res.once('drain', this.resume!);
    return false;
  }

  onComplete(): void {
    this.policy.settled?.(this.forwarder!);
    if (this.dropping) return;
    this.watch?.end();
    this.finished = true;
    this.releaseBody();
    const gate = this.request.tap?.end();
    if (gate) void gate.finally(() => this.end());
    else this.end();
  }

  onError(error: Error): void {
    this.policy.settled?.(this.forwarder!);
    if (this.dropping) return;
    this.watch?.end(error);
    if (!this.started && !this.abandoned) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      const kind = CONNECT_ERROR_CODES.has(code) ? 'connect-error' : RESET_CODES.has(code) ? 'reset' : undefined;
      if (kind && this.policy.failed(this, { kind, error }, this.forwarder!)) return;
    }
    this.finished = true;
    this.releaseBody();
    const { tap, receiver } = this.request;
    const kind = this.abandoned ? undefined : upstreamErrorKind(error);
    tap?.abort(kind && !this.started ? error : undefined);
    if (this.abandoned) return;
    if (kind) this.request.upstreamFailed(kind);
    if (receiver && this.started) return receiver.abort(error);
    // A service that dies mid-body must not leave the client waiting, nor let it take the
    // truncated body for a whole one: `writeProxyError` cuts a response already begun.
    if (this.started) writeProxyError(this.request, error);
    else answerFailure(this.request, error);
  }

  private start(statusCode: number, headers: ResponseHeaders): void {
    this.started = true;
    const { receiver, addedHeaders } = this.request;
    assignHeaderList(headers, addedHeaders);
    if (receiver) return receiver.head(statusCode, headers, this);
    headers['x-request-id'] = this.request.id;
    if (this.closesConnection()) headers.connection = 'close';
    this.request.res.writeHead(statusCode, headers);
  }

  private writeHead(statusCode: number, service: string[]): void {
    const added = this.request.addedHeaders;
    const headers = added ? withAdded(service, added) : service;
    headers.push('x-request-id', this.request.id);
    if (this.closesConnection()) headers.push('connection', 'close');
    this.request.res.writeHead(statusCode, headers);
  }

  /**
   * Draining, or the service answered before the client's body ended (a 401 to an upload): the
   * rest of that body would otherwise hold the connection, unread.
   */
  private closesConnection(): boolean {
    return this.drain.draining || !this.request.req.complete;
  }

  /**
   * undici leaves the body stream as it is when an exchange ends before the body was sent (a
   * refused connection, an early answer): unpiped and destroyed here, it holds no buffers, no
   * timer and no socket.
   */
  private releaseBody(): void {
    const body = this.body;
    if (!body || body.destroyed) return;
    this.request.req.unpipe(body);
    body.destroy();
  }

  /** Drops the attempt in flight: its answer is being retried. */
  private drop(): false {
    this.dropping = true;
    this.watch?.end();
    this.abortUpstream?.(RETRYING);
    return false;
  }

  abandon(): void {
    if (this.finished) return;
    const { tap, receiver } = this.request;
    if (this.started && !receiver && tap?.wantsRest?.()) {
      this.detached = true;
      this.resume!();
      return;
    }
    this.stop();
  }

  /** Ends the exchange with the service, telling no one. */
  private stop(): void {
    this.abandoned = true;
    this.abortUpstream?.();
  }

  private end(): void {
    const { receiver, res } = this.request;
    if (receiver) receiver.end();
    else if (!this.detached) res.end(this.lastChunk);
  }
}

/** A flat head list with `added` in place of the service's headers of the same names. */
function withAdded(list: string[], added: readonly string[]): string[] {
  const replaced = new Set<string>();
  for (let i = 0; i < added.length; i += 2) replaced.add(added[i]);
  const kept: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (!replaced.has(list[i])) kept.push(list[i], list[i + 1]);
  for (const item of added) kept.push(item);
  return kept;
}
