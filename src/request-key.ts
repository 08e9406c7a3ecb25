import type { IncomingMessage } from 'node:http';
import { parseCookie } from 'cookie';

/**
 * What a request is keyed on, as `hashOn` and a rate limit's `by` name it: `header:<name>`,
 * `cookie:<name>` or `ip` (the client as `trustProxy` tells it); a missing value keys as empty.
 */
export function requestKeyFunction(keyOn: string): (req: IncomingMessage, clientIp: string | undefined) => string {
  if (keyOn === 'ip') return (_req, clientIp) => clientIp ?? '';
  const [source, name] = [keyOn.slice(0, keyOn.indexOf(':')), keyOn.slice(keyOn.indexOf(':') + 1)];
  if (source === 'header') {
    const header = name.toLowerCase();
    return (req) => {
      const value = req.headers[header];
      return Array.isArray(value) ? value.join(', ') : (value ?? '');
    };
  }
  return (req) => (req.headers.cookie ? (parseCookie(req.headers.cookie)[name] ?? '') : '');
}
