import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyRequest } from 'fastify';

// RFC 9110 §7.6.1: connection-specific headers are meant for one hop and must not be
// forwarded, including every header the `Connection` header names. Node's client sets
// its own `connection` and `transfer-encoding` for the upstream request.
const HOP_BY_HOP_HEADERS = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

/** Removes hop-by-hop headers from the headers of a request or response before they are forwarded. */
export function stripHopByHopHeaders(headers: IncomingHttpHeaders): void {
  const connection = headers.connection;
  if (connection) {
    for (const token of connection.split(',')) {
      delete headers[token.trim().toLowerCase()];
    }
  }
  for (const name of HOP_BY_HOP_HEADERS) {
    delete headers[name];
  }
}

/**
 * Tells the service who asked and how: the client's address is appended to `X-Forwarded-For`
 * (what came before it is the client's claim, kept for the service to judge). Protocol and host
 * come from fastify, which reads the client's `X-Forwarded-Proto`/`-Host` only when its
 * `trustProxy` setting trusts the peer; otherwise the gateway's own view replaces them.
 */
export function setForwardedHeaders(request: FastifyRequest): void {
  const headers = request.raw.headers;
  const client = request.raw.socket.remoteAddress;
  const claimed = headers['x-forwarded-for'];
  headers['x-forwarded-for'] = claimed ? `${claimed}, ${client}` : client;
  headers['x-forwarded-proto'] = request.protocol;
  headers['x-forwarded-host'] = request.host;
  delete headers['x-forwarded-port'];
}
