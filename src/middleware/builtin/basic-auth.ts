import { createHash, timingSafeEqual } from 'node:crypto';
import parseBasicAuth from 'basic-auth';
import type { ConnectMiddleware } from '../../config/gateway-options.interface.js';
import type { BasicAuthOptions } from '../../config/builtin-middleware-options.js';

// Comparing digests of equal length keeps the comparison constant-time whatever the lengths.
const digest = (text: string) => createHash('sha256').update(text).digest();

const DEFAULT_REALM = 'Authorization Required';

/**
 * HTTP Basic authentication against a fixed user list. A missing, malformed (`Bearer x`,
 * `Basic a b`) or wrong credential gets the same 401 challenge: to a client each is one more
 * missing credential.
 */
export function createBasicAuth(options: BasicAuthOptions): ConnectMiddleware {
  const users = new Map(Object.entries(options.users).map(([user, password]) => [user, digest(password)]));
  const check = (user: string, password: string): boolean => {
    const expected = users.get(user);
    return expected !== undefined && timingSafeEqual(expected, digest(password));
  };
  const challenge = `Basic realm="${(options.realm ?? DEFAULT_REALM).replace(/["\\]/g, '')}"`;
  return (req, res, next) => {
    const credentials = parseBasicAuth(req);
    if (credentials !== undefined && check(credentials.name, credentials.pass)) return next();
    res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'text/plain; charset=utf-8', 'content-length': 12 });
    res.end('Unauthorized');
  };
}
