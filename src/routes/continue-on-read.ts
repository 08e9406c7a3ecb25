import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/**
 * Answers `Expect: 100-continue` when something starts reading the request body, not when the
 * request arrives (Node's default): a route's middlewares, `onRequest` hook, cache and
 * `bodyLimit` judge the request first, so a refused upload is answered with its refusal and its
 * body is never invited (Node then closes the connection, the body unread). The gateway's
 * forwarder, a middleware that parses the body, and the host application's own body parsers all
 * read by listening for `data` or `readable`.
 */
export function continueOnFirstRead(server: Server): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const onListener = (event: string | symbol) => {
      if (event !== 'data' && event !== 'readable') return;
      req.off('newListener', onListener);
      if (!res.headersSent && !res.writableEnded) res.writeContinue();
    };
    req.on('newListener', onListener);
    server.emit('request', req, res);
  });
}
