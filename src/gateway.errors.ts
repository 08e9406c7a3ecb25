import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Body of the 500 answered when a user hook throws: the message is the hook's own. */
export function hookFailureBody(error: unknown) {
  return {
    statusCode: 500,
    error: 'Internal Server Error',
    message: error instanceof Error ? error.message : String(error),
  };
}

/**
 * Writes an answer of the gateway's own, with a JSON body (an error's `{ statusCode, error,
 * message }`), and ends the response; `headers` come after the body's own.
 */
export function writeJsonAnswer(res: ServerResponse, statusCode: number, body: object, headers?: OutgoingHttpHeaders): void {
  const payload = JSON.stringify(body);
  res.writeHead(statusCode, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}
