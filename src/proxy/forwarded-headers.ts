import type { IncomingHttpHeaders } from 'node:http';

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
