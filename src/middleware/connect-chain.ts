import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { ConnectMiddleware } from '../config/gateway-options.interface.js';
import { writeJsonAnswer } from '../gateway.errors.js';

/** Runs a route's middlewares in order; `next` is called only when the last one passes. */
export type MiddlewareChain = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

interface HttpErrorLike {
  status?: number;
  statusCode?: number;
  getStatus?: () => number;
  getResponse?: () => string | object;
  message?: string;
}

/**
 * Composes connect-style middlewares into one function, once per route. A middleware that
 * answers and does not call `next` ends the exchange; `next(err)` (or a throw) answers with the
 * error's status: a Nest `HttpException`'s own response, otherwise `err.status` and its message
 * below 500, a bare 500 above (the error's text stays in the gateway).
 */
export function composeMiddlewares(middlewares: ConnectMiddleware[]): MiddlewareChain | undefined {
  if (middlewares.length === 0) return undefined;
  return (req, res, done) => {
    let index = 0;
    const next = (error?: unknown) => {
      if (error !== undefined && error !== null) return answerError(res, error as HttpErrorLike);
      const middleware = middlewares[index++];
      if (!middleware) return done();
      try {
        middleware(req, res, next);
      } catch (thrown) {
        answerError(res, thrown as HttpErrorLike);
      }
    };
    next();
  };
}

function answerError(res: ServerResponse, error: HttpErrorLike): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const statusCode = error.getStatus?.() ?? error.status ?? error.statusCode ?? 500;
  const valid = statusCode >= 400 && statusCode <= 599 ? statusCode : 500;
  const nestBody = error.getResponse?.();
  const body =
    typeof nestBody === 'object'
      ? nestBody
      : { statusCode: valid, error: STATUS_CODES[valid], message: valid < 500 ? String(nestBody ?? error.message) : 'Internal server error' };
  writeJsonAnswer(res, valid, body);
}
