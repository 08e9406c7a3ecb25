import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { RetryCondition } from '../config/gateway-options.interface.js';
import type { UpstreamErrorKind } from './proxy-errors.js';
import type { RequestBodyStream } from './request-body.js';
import type { ResponseReceiver, ResponseTap } from './response-tap.js';

/** Where and how one route forwards: decided once, at start-up. */
export interface ForwardTarget {
  /** Base URL of the service; its path, if any, comes before the forwarded one. */
  target: URL;
  /** The `Host` the service is sent, when not the target's own (an address found by DNS discovery). */
  host?: string;
  /** Turns the client's URL (path and query) into the path the service receives. */
  rewriteUrl: (originalUrl: string) => string;
  /** Largest request body, in bytes. */
  bodyLimit: number;
  /** Longest wait for the service, in milliseconds: to connect, for its head, between body chunks. */
  timeout: number;
  /** Most connections open to the target at once. */
  maxConnections: number;
  /** Longest silence in the client's request body, in milliseconds. */
  requestBodyTimeout: number;
  /** Longest an idle connection to the target is kept, in milliseconds. */
  keepAliveTimeout: number;
  /** Client request headers never forwarded, lower-case. */
  dropHeaders: ReadonlySet<string>;
  /** Response headers of the service never passed on to the client, lower-case. */
  dropResponseHeaders: ReadonlySet<string>;
  /** How an `https://` target is reached; its certificate is verified whatever this holds. */
  tls?: UpstreamTls;
  /** `grpc`: calls go over HTTP/2 (`grpc-forwarder.ts`); HTTP requests through undici otherwise. */
  protocol?: 'http' | 'grpc';
}

/** A route's TLS to its targets, its files already read (PEM). */
export interface UpstreamTls {
  /** The CAs a target's certificate must chain to, in place of the system's. */
  ca?: Buffer;
  /** The client certificate and its key, for targets that ask for one. */
  cert?: Buffer;
  key?: Buffer;
  /** SNI, and the name the certificate is checked against, when not the target's host name. */
  servername?: string;
}

/** One request to forward, as the route's pipeline hands it over. */
export interface ForwardRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly originalUrl: string;
  /** The request's id, sent to the service and on the response head. */
  readonly id: string;
  /** The socket's peer: what `X-Forwarded-For` gets appended. */
  readonly clientAddress: string | undefined;
  /** The client as fastify's `trustProxy` tells it: what `hashOn: ip` keys on. */
  readonly clientIp: string;
  readonly clientProtocol: string;
  readonly clientHost: string;
  /** Headers the gateway adds to the answer, as a flat `[name, value, ...]` list (a rate limit's fields): they replace the service's of the same names. */
  readonly addedHeaders?: readonly string[];
  /** Sees the response on its way to the client (the cache fills through it). */
  readonly tap?: ResponseTap;
  /** Takes the response instead of the client (a route's `onResponse` hook). */
  readonly receiver?: ResponseReceiver;
  /** Told how the exchange failed on the service's side; the forwarder imports no metrics. */
  upstreamFailed(kind: UpstreamErrorKind): void;
  /**
   * The service failed the request before any of its answer was passed on: `status` is its own
   * 5xx answer, or the gateway's 502/503/504 for a failed exchange; undefined for a failure that
   * is the client's. Returns true when the request is answered another way (a stale entry), and
   * the failure then reaches no client.
   */
  fallBack?(status: number | undefined): boolean;
  /** Watches one attempt at `target` (the n-th, from 1): tracing; none when the request is not traced. */
  watchAttempt?(target: URL, attempt: number): AttemptWatch | undefined;
}

/** One attempt as an observer sees it (a trace's CLIENT span): the forwarder imports no tracing. */
export interface AttemptWatch {
  /** Headers the attempt adds to the request (its trace context), as a flat `[name, value, ...]` list. */
  readonly headers: readonly string[];
  /** The service's final status for this attempt. */
  answered(status: number): void;
  /** The attempt is over: its response ended, was dropped for a retry, or failed with `error`. */
  end(error?: Error): void;
}

/** A failure that is the service's answer: one of its statuses a route's retry rules name. */
export type FailureStatus = Extract<RetryCondition, `${number}`>;

/** Why an attempt failed before any of its response reached the client: a route's retry conditions. */
export type AttemptFailure =
  | { kind: Exclude<RetryCondition, FailureStatus>; error: Error }
  | { kind: FailureStatus; status: number; retryAfter?: string };

/** One request's exchange as a retry policy sees it. */
export interface ForwardAttempts {
  readonly request: ForwardRequest;
  /** Attempts made so far, this one included. */
  readonly attempts: number;
  /** Whether the request may be sent again as it was: no body, or one the service never read. */
  replayable(): boolean;
  /** Sends the request to `target`, on a connection of its own when `fresh`. */
  sendTo(target: AttemptTarget, fresh: boolean): void;
}

/** The forwarder of one target, as an exchange's attempts and their policy see it. */
export interface AttemptTarget {
  /** Where requests go, for logs and metrics. */
  readonly href: string;
  readonly url: URL;
  /** Response headers of the service never passed on to the client, lower-case. */
  readonly dropResponseHeaders: ReadonlySet<string>;
  /** Dispatches one attempt of an exchange to this target, on a connection of its own when `fresh`. */
  send(attempt: DispatchedAttempt, fresh: boolean): void;
}

/** One attempt as a forwarder dispatches it: undici's handler, and what the request head is made of. */
export interface DispatchedAttempt extends Dispatcher.DispatchHandler {
  readonly request: ForwardRequest;
  /** The client's body as it streams on; null without one. */
  readonly body: RequestBodyStream | null;
  /** The client's `Content-Length`, sent on when it framed the body. */
  readonly declaredLength: string | undefined;
  /** A new attempt begins on `target`. */
  attemptOn(target: AttemptTarget): void;
  /** What watches the attempt begun last, when the request is traced. */
  readonly watch?: AttemptWatch;
}

/** Decides what follows each attempt of a request: the route's targets and retry rules. */
export interface AttemptPolicy {
  /** True when the policy sends the request again (now or later, here or elsewhere). */
  failed(attempts: ForwardAttempts, failure: AttemptFailure, target: AttemptTarget): boolean;
  /** The attempt on `target` got a response head that is passed on. */
  answered?(target: AttemptTarget, status: number): void;
  /** An attempt goes to `target`. */
  sent?(target: AttemptTarget): void;
  /** An attempt on `target` ended, however. */
  settled?(target: AttemptTarget): void;
}

/** An exchange in flight, as its caller holds it. */
export interface Forwarding {
  /** The client left, or the response was given up: end the exchange with the service, tell no one. */
  abandon(): void;
  /** Attempts made, the first included. */
  readonly attempts: number;
  /** The target of the latest attempt. */
  readonly target: string | undefined;
}

/** Whether responses should close their client connection: set once the server drains. */
export interface ProxyDrain {
  draining: boolean;
}
