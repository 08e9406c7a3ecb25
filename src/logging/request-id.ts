import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { X_REQUEST_ID } from '../gateway.constants.js';

// What a client may choose: enough for UUIDs, ULIDs and trace ids, nothing that could break a log line.
const VALID_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/**
 * The request's id: the client's `x-request-id` when it is a sane token, a new UUID otherwise.
 * Set on the request, so the service gets it. Whatever writes the response head adds it there:
 * set on the response now, it would push every later `writeHead` onto Node's slow path, which
 * costs a cache hit about a tenth of its time.
 */
export function assignRequestId(req: IncomingMessage): string {
  const sent = req.headers[X_REQUEST_ID];
  const id = typeof sent === 'string' && VALID_REQUEST_ID.test(sent) ? sent : randomUUID();
  req.headers[X_REQUEST_ID] = id;
  return id;
}
