import cors from 'cors';
import type { ConnectMiddleware } from '../../config/gateway-options.interface.js';
import type { CorsOptions } from '../../config/builtin-middleware-options.js';

/** CORS headers and preflight answers, by the `cors` package. */
export function createCors(options: CorsOptions): ConnectMiddleware {
  return cors(options) as ConnectMiddleware;
}
