import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { util as undiciUtil } from 'undici';

/** A response head as receivers see it: lower-case names, repeated headers as lists. */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** What the client side of the exchange says about itself, as fastify judged it (`trustProxy`). */
export interface ClientView {
  /** The peer's address. */
  address: string | undefined;
  protocol: string;
  host: string;
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

// A `Connection` header may name these, but the gateway frames and addresses each hop itself:
// deleting them on the client's word would let a client choose how the service reads the body.
const FRAMING = new Set(['content-length', 'transfer-encoding', 'host']);

function removeConnectionHeaders(headers: IncomingHttpHeaders | ResponseHeaders): void {
  const connection = headers.connection;
  if (connection) {
    for (const token of String(connection).split(',')) {
      const name = token.trim().toLowerCase();
      if (!FRAMING.has(name)) delete headers[name];
    }
  }
  for (const name of HOP_BY_HOP) delete headers[name];
}

/**
 * Turns the client's request headers, in place, into those the service gets: hop-by-hop and
 * framing headers dropped (the forwarder frames the body itself), `Host` set to the target's,
 * the client's address appended to `X-Forwarded-For` (what came before it is the client's claim,
 * kept for the service to judge), `X-Forwarded-Proto`/`-Host` from fastify's view of the client.
 */
export function toUpstreamHeaders(req: IncomingMessage, targetHost: string, client: ClientView): IncomingHttpHeaders {
  const headers = req.headers;
  removeConnectionHeaders(headers);
  delete headers['content-length'];
  headers.host = targetHost;
  const claimed = headers['x-forwarded-for'];
  headers['x-forwarded-for'] = claimed ? `${claimed}, ${client.address}` : client.address;
  headers['x-forwarded-proto'] = client.protocol;
  headers['x-forwarded-host'] = client.host;
  delete headers['x-forwarded-port'];
  return headers;
}

/**
 * The service's response head as the client gets it: its connection headers describe its
 * connection to the gateway (`keep-alive: timeout=5`, `transfer-encoding`), so they go; Node
 * frames the client's response itself.
 */
export function toClientHeaders(rawHeaders: Buffer[]): ResponseHeaders {
  const headers = undiciUtil.parseHeaders(rawHeaders) as ResponseHeaders;
  removeConnectionHeaders(headers);
  return headers;
}
