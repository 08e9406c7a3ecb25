import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { CacheFill } from '../cache/index.js';
import type { ForwardRequest, ResponseReceiver, UpstreamErrorKind } from '../proxy/index.js';
import type { Exchange } from './exchange.js';

/**
 * What would make the service answer a refresh with less than the whole response (a 304, a 206):
 * the client's conditions were about its own copy, and the refresh fills the store.
 */
const PARTIAL_OR_CONDITIONAL = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range'];

/** Takes the refresh's response where a client would: the fill has copied it, nothing else wants it. */
const DISCARDED: ResponseReceiver = {
  head: () => undefined,
  data: () => true,
  end: () => undefined,
  abort: () => undefined,
};

/**
 * The request that refreshes a stale entry after the client that found it stale has had it: the
 * client's GET, without its conditions, forwarded by the route as any miss (its targets, retries
 * and timeout), its response going to the cache fill only. It has no client of its own: the
 * receiver takes every answer, and a failure leaves the stale entry as it is, to answer within
 * its window. The client's response object is never written: the receiver and `fallBack` take
 * everything that would reach it.
 */
export class BackgroundRefresh implements ForwardRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly originalUrl: string;
  readonly id: string;
  readonly clientAddress: string | undefined;
  readonly clientIp: string;
  readonly clientProtocol: string;
  readonly clientHost: string;
  readonly receiver = DISCARDED;

  constructor(
    from: Exchange,
    readonly tap: CacheFill,
  ) {
    this.req = Object.create(from.req, { headers: { value: withoutConditions(from.req.headers) } }) as IncomingMessage;
    this.res = from.res;
    this.originalUrl = from.originalUrl;
    this.id = from.id;
    this.clientAddress = from.clientAddress;
    this.clientIp = from.clientIp;
    this.clientProtocol = from.clientProtocol;
    this.clientHost = from.clientHost;
    this.upstreamFailed = (kind) => from.upstreamFailed(kind);
  }

  readonly upstreamFailed: (kind: UpstreamErrorKind) => void;

  /** Nothing to answer: the stale entry stays for the requests that follow. */
  fallBack(): boolean {
    this.tap.abort();
    return true;
  }
}

function withoutConditions(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const copy = { ...headers };
  for (const name of PARTIAL_OR_CONDITIONAL) delete copy[name];
  return copy;
}
