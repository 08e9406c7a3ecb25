import { randomBytes } from 'node:crypto';
import { startUpstream, type Upstream } from './upstream.js';

/**
 * A service whose answers say what to cache: every body carries a serial number, so a test
 * can tell a cached answer from a fresh one, and `hits(path)` counts what reached it.
 */
export async function startCachedUpstream(): Promise<Upstream & { hits(path: string): number; slowPlainMaxInFlight(): number }> {
  let serial = 0;
  let slowPlainInFlight = 0;
  let slowPlainMaxInFlight = 0;
  const binary = randomBytes(200_000);
  const upstream = await startUpstream((req, res) => {
    const url = new URL(req.url!, 'http://upstream');
    const json = (headers: Record<string, string | string[]>, status = 200) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({ serial: ++serial, url: req.url, user: req.headers['x-user'] ?? null }));
    };
    switch (url.pathname) {
      case '/numbers':
      case '/users':
        if (req.method === 'PATCH') return json({ 'x-cache-expire': '*/numbers' });
        return json({ 'x-cache-timeout': '1 minute' });
      case '/short':
        return json({ 'x-cache-timeout': '1s' });
      case '/seconds':
        return json({ 'x-cache-timeout': '60' });
      case '/bad-ttl':
        return json({ 'x-cache-timeout': 'soon' });
      case '/cookie':
        return json({ 'x-cache-timeout': '1 minute', 'set-cookie': ['session=abc', 'theme=dark'] });
      case '/error':
        return json({ 'x-cache-timeout': '1 minute' }, 503);
      case '/plain':
        return json({});
      case '/expire-all':
        return json({ 'x-cache-expire': '*/numbers*, */users' });
      case '/slow': {
        const timer = setTimeout(() => json({ 'x-cache-timeout': '1 minute' }), 150);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      case '/slow-plain': {
        slowPlainMaxInFlight = Math.max(slowPlainMaxInFlight, ++slowPlainInFlight);
        const timer = setTimeout(() => json({}), 300);
        res.on('close', () => {
          slowPlainInFlight--;
          clearTimeout(timer);
        });
        return;
      }
      case '/binary':
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-cache-timeout': '1 minute' });
        return res.end(binary);
      case '/etag':
        res.writeHead(200, { etag: '"target-etag"', 'x-cache-timeout': '1 minute' });
        return res.end('tagged');
      case '/links':
        // Builds a link from the host it was asked for, as services behind proxies do.
        return json({ 'x-cache-timeout': '1 minute', link: `<https://${req.headers['x-forwarded-host']}/next>` });
      case '/encoded':
        res.writeHead(200, { 'x-cache-timeout': '1 minute', vary: 'accept-encoding', 'content-type': 'text/plain' });
        return res.end(`encoding=${req.headers['accept-encoding']};serial=${++serial}`);
      case '/private':
        return json({ 'x-cache-timeout': '1 minute', 'cache-control': 'private' });
      case '/no-store':
        return json({ 'x-cache-timeout': '1 minute', 'cache-control': 'no-store' });
      case '/cache-control':
        res.writeHead(200, { 'cache-control': 'public, max-age=60', vary: 'accept-language' });
        return res.end(`lang=${req.headers['accept-language']};serial=${++serial}`);
      case '/secure-only':
        // Sends plain-http clients to https, as services behind a TLS-terminating proxy do.
        if (req.headers['x-forwarded-proto'] === 'http') {
          res.writeHead(301, { location: `https://${req.headers['x-forwarded-host']}${req.url}`, 'x-cache-timeout': '1 minute' });
          return res.end();
        }
        return json({ 'x-cache-timeout': '1 minute' });
      case '/negotiated':
        // HTML by default, JSON to clients that ask for it.
        res.writeHead(200, { 'x-cache-timeout': '1 minute', vary: 'Accept', 'content-type': req.headers.accept === 'application/json' ? 'application/json' : 'text/html' });
        return res.end(req.headers.accept === 'application/json' ? JSON.stringify({ serial: ++serial }) : `<p>${++serial}</p>`);
      case '/vary-star':
        res.writeHead(200, { 'x-cache-timeout': '1 minute', vary: '*' });
        return res.end(String(++serial));
      case '/expire-upper':
        return json({ 'x-cache-expire': '*/NUMBERS*' });
      case '/two-lines-private':
        // Node writes a flat list as it is: one field line per pair.
        res.writeHead(200, ['x-cache-timeout', '1 minute', 'cache-control', 'max-age=60', 'cache-control', 'private']);
        return res.end(String(++serial));
      case '/two-lines-public':
        res.writeHead(200, ['x-cache-timeout', '1 minute', 'cache-control', 'public', 'cache-control', 'no-transform', 'vary', 'accept-language', 'vary', 'accept']);
        return res.end(String(++serial));
      default:
        return json({}, 404);
    }
  });
  return Object.assign(upstream, {
    /** Most requests for `/slow-plain` (an uncacheable answer, 300 ms late) open at once. */
    slowPlainMaxInFlight: () => slowPlainMaxInFlight,
    hits: (path: string) => upstream.seen.filter((seen) => new URL(seen.url, 'http://x').pathname === path).length,
  });
}
