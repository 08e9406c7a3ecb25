import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const X_REQUEST_ID = 'x-request-id';
// What a client may choose: enough for UUIDs, ULIDs and trace ids, nothing that could break a log line.
const VALID_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/**
 * The request's id: the client's `x-request-id` when it is a sane token, a new UUID otherwise.
 * Set on the request (so the service gets it) and on the response (so the client sees it).
 */
export function assignRequestId(req: IncomingMessage, res: ServerResponse): string {
  const sent = req.headers[X_REQUEST_ID];
  const id = typeof sent === 'string' && VALID_REQUEST_ID.test(sent) ? sent : randomUUID();
  req.headers[X_REQUEST_ID] = id;
  res.setHeader(X_REQUEST_ID, id);
  return id;
}
