import type { ResponseHeaders } from './upstream-headers.js';

/**
 * Sees a proxied response on its way to the client, without owning it: the head first (it may
 * add headers, or hold the response back until a promise settles), then every chunk as it is
 * passed on, then a gate before the end reaches the client. A route chooses its taps at
 * start-up; the response cache fills through one.
 */
export interface ResponseTap {
  head(status: number, headers: ResponseHeaders): void | Promise<void>;
  /**
   * A chunk on its way to the client. `true` says the tap keeps the chunk until the end: the
   * service is then read at its own pace rather than the client's, since holding the chunk for a
   * slow client costs no more memory than the tap already holds.
   */
  chunk(chunk: Buffer): boolean | void;
  /**
   * Whether the tap still wants the rest of the response when the client has gone: the cache
   * completes a fill that other requests wait for, rather than send them all to the service.
   */
  wantsRest?(): boolean;
  /** The whole body was passed on but not yet ended; the end waits for a returned promise. */
  end(): void | Promise<void>;
  /**
   * Nothing more comes: the client left, or the exchange failed. `failure` is the service's own
   * failure (refused, reset, timed out) before any of its response was passed on.
   */
  abort(failure?: Error): void;
  /** Headers the tap puts on the gateway's own answer when the exchange fails (a flat list). */
  failureHeaders?(): readonly string[];
}

/**
 * Takes over a proxied response instead of the client's connection: a route's `onResponse`
 * hook reads it this way. `exchange.abandon()` ends the exchange with the service.
 */
export interface ResponseReceiver {
  head(status: number, headers: ResponseHeaders, exchange: { abandon(): void }): void;
  /** A body chunk; `false` pauses the service's response until `resume` is called. */
  data(chunk: Buffer, resume: () => void): boolean;
  end(): void;
  abort(error: Error): void;
}
