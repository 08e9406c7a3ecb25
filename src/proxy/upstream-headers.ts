import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
// undici's own files, loaded alone to spare the RSS its index costs (src/types/undici-parts.d.ts).
// They are no public API and may move in any release: package.json pins undici exactly, and a
// bump is checked by the suite (docs/development.md, Dependencies).
import undiciUtil from 'undici/lib/core/util.js';

/** A response head as taps and receivers see it: lower-case names, repeated headers as lists. */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** The request as the forwarder reads it: Node's request, its id and fastify's view of the client. */
export interface ClientRequest {
  readonly req: IncomingMessage;
  readonly id: string;
  /** The socket's peer: what `X-Forwarded-For` gets appended. */
  readonly clientAddress: string | undefined;
  /** The client as fastify's `trustProxy` tells it (the peer, or what a trusted proxy said). */
  readonly clientIp: string;
  readonly clientProtocol: string;
  readonly clientHost: string;
}

// RFC 9110 §7.6.1: connection-specific headers are meant for one hop and are never forwarded,
// nor is any header the `Connection` header names. `expect` is answered by the gateway's own
// server (Node sends `100 Continue`); undici refuses to send it.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

// Headers of the client's request that the gateway writes itself: framing (it frames the body
// it forwards), the target's host, and what it says about the client. An HTTP/2 request's
// pseudo-headers (RFC 9113 §8.3.1) are its request line, which the gateway writes too.
const SET_BY_GATEWAY = new Set([
  ':method',
  ':scheme',
  ':authority',
  ':path',
  ':protocol',
  'host',
  'content-length',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-request-id',
]);

// A `Connection` header may name these, but the gateway frames and addresses each hop itself:
// deleting them on the client's word would let a client choose how the service reads the body.
const FRAMING = new Set(['content-length', 'transfer-encoding', 'host']);

const NONE: ReadonlySet<string> = new Set();

/** Whether a request header is one the gateway frames, addresses or writes itself, or one meant for a single hop. */
export function isGatewayOwnedHeader(name: string): boolean {
  return HOP_BY_HOP.has(name) || SET_BY_GATEWAY.has(name);
}

// `Connection` values that name no other header: the common case, parsed no further.
const PLAIN_CONNECTION = /^\s*(?:keep-alive|close)\s*$/i;

/** The headers a `Connection` value names, other than the framing ones, which it can never remove. */
function listedByConnection(connection: string | undefined): Set<string> | undefined {
  if (connection === undefined || PLAIN_CONNECTION.test(connection)) return undefined;
  const listed = new Set<string>();
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    if (!FRAMING.has(name)) listed.add(name);
  }
  return listed;
}

/**
 * Whether the service gets the client's own value of a request header: not when it is
 * hop-by-hop or named by the client's `Connection`. What the service varies on is read through
 * this, or a client could pick the variant it fills (`Connection: accept` drops `Accept`).
 */
export function forwardsClientHeader(headers: IncomingHttpHeaders, name: string): boolean {
  return !HOP_BY_HOP.has(name) && !listedByConnection(headers.connection)?.has(name);
}

/**
 * The request head the service gets, as undici's flat `[name, value, ...]` list: the client's
 * headers without hop-by-hop ones (nor any its `Connection` names), `Host` set to the target's,
 * the client's address appended to `X-Forwarded-For` (what came before it is the client's claim,
 * kept for the service to judge), `X-Forwarded-Proto`/`-Host` from fastify's view of the client,
 * and `Content-Length` only when the gateway forwards a body of that length; none of the route's
 * `dropped` headers. The client's own
 * headers object is left as it is, for the stages that read it later.
 */
export function toUpstreamHeaders(
  request: ClientRequest,
  targetHost: string,
  contentLength: string | undefined,
  dropped: ReadonlySet<string> = NONE,
): string[] {
  const headers = request.req.headers;
  const listed = listedByConnection(headers.connection);
  const list = ['host', targetHost];
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || SET_BY_GATEWAY.has(name) || listed?.has(name) || dropped.has(name)) continue;
    const value = headers[name]!;
    if (typeof value === 'string') list.push(name, value);
    else for (const item of value) list.push(name, item);
  }
  const claimed = headers['x-forwarded-for'];
  const address = request.clientAddress;
  const forwardedFor = claimed ? `${claimed}, ${address}` : address;
  if (forwardedFor) list.push('x-forwarded-for', forwardedFor);
  list.push('x-forwarded-proto', request.clientProtocol, 'x-forwarded-host', request.clientHost, 'x-request-id', request.id);
  if (contentLength !== undefined) list.push('content-length', contentLength);
  return list;
}

/** A raw head's value as text: undici's are bytes, Node's `http` client's already text. */
const latin1 = (value: Buffer | string) => (typeof value === 'string' ? value : value.toString('latin1'));

/**
 * The service's response head as the client gets it (from undici, or Node's `http` client for
 * a declined upgrade), as a flat `[name, value, ...]` list that
 * Node's `writeHead` takes as it is: the service's connection headers describe its connection to
 * the gateway (`keep-alive: timeout=5`, `transfer-encoding`), so they go; Node frames the
 * client's response itself.
 */
export function toClientHeaders(rawHeaders: ReadonlyArray<Buffer | string>, dropped: ReadonlySet<string> = NONE): string[] {
  const list: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = undiciUtil.headerNameToString(rawHeaders[i]);
    if (name === 'connection') connection = latin1(rawHeaders[i + 1]);
    // The gateway's own id goes on every answer; a service's echo of it would make two.
    if (HOP_BY_HOP.has(name) || name === 'x-request-id' || dropped.has(name)) continue;
    list.push(name, latin1(rawHeaders[i + 1]));
  }
  const listed = listedByConnection(connection);
  if (!listed) return list;
  const kept: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (!listed.has(list[i])) kept.push(list[i], list[i + 1]);
  return kept;
}

/** The same head as an object, for the taps and receivers that read it by name. */
export function toHeaderObject(list: string[]): ResponseHeaders {
  // No prototype: a service's `__proto__` header stays a header.
  const headers: ResponseHeaders = Object.create(null);
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i];
    const present = headers[name];
    if (present === undefined) headers[name] = list[i + 1];
    else if (typeof present === 'string') headers[name] = [present, list[i + 1]];
    else present.push(list[i + 1]);
  }
  return headers;
}

/** Sets a flat `[name, value, ...]` list's headers on a head object, over any of the same names. */
export function assignHeaderList(headers: Record<string, string | string[] | number | undefined>, list: readonly string[] | undefined): void {
  if (list) for (let i = 0; i < list.length; i += 2) headers[list[i]] = list[i + 1];
}
