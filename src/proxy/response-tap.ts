import type { ResponseHeaders } from './upstream-headers.js';
import type { UpstreamErrorKind } from './proxy-errors.js';

/**
 * Sees a proxied response on its way to the client, without owning it: the head first (it may
 * add headers, or hold the response back until a promise settles), then every chunk as it is
 * passed on, then a gate before the end reaches the client. A route chooses its taps at
 * start-up; the response cache fills through one.
 */
export interface ResponseTap {
  head(status: number, headers: ResponseHeaders): void | Promise<void>;
  chunk(chunk: Buffer): void;
  /** The whole body was passed on but not yet ended; the end waits for a returned promise. */
  end(): void | Promise<void>;
  /** The exchange failed or the client left: nothing more comes. */
  abort(): void;
}

/**
 * Takes over a proxied response instead of the client's connection: a route's `onResponse`
 * hook reads it this way. `cancel` aborts the exchange with the service.
 */
export interface ResponseReceiver {
  head(status: number, headers: ResponseHeaders, cancel: () => void): void;
  /** A body chunk; `false` pauses the service's response until `resume` is called. */
  data(chunk: Buffer, resume: () => void): boolean;
  end(): void;
  abort(error: Error): void;
}

/** What the forwarder tells the exchange it serves; it imports no metrics nor logs. */
export interface ProxyReport {
  /** The request's id, sent to the service and on the response head. */
  readonly id: string;
  upstreamFailed(kind: UpstreamErrorKind): void;
}
