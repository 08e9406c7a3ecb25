/** Why a request target is refused before it is matched to a route's middlewares or forwarded. */
export interface RefusedTarget {
  statusCode: 400 | 414;
  message: string;
}

// RFC 9110 §7.2 / RFC 3986 §3.2.2: an IP literal or a reg-name, then an optional port. No `/`,
// `?`, `#`, `@` or spaces: a Host holding them is read as a path or a user by some services.
const VALID_HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)(?::\d{1,5})?$/;

// RFC 3986 §3.1: what `X-Forwarded-Proto` may name.
const VALID_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;

/** Whether every comma-separated element of a proxy's header passes `valid`: each proxy on the way appends one. */
function everyElement(value: string, valid: RegExp): boolean {
  for (const element of value.split(',')) if (!valid.test(element.trim())) return false;
  return true;
}

// A dot segment, spelled plainly or percent-encoded (`%2e`), ended by a slash, `;` (which some
// servers cut path parameters at: `/..;/`) or the end of the path.
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?=\/|;|$)/i;
// Slashes and backslashes the target may decode or fold into `/`, and NUL.
const HIDDEN_SEPARATOR = /%2f|%5c|\\|%00/i;

/**
 * Refuses a path that a service could read as another path than the one the gateway matched:
 * fastify matches the raw path, while the service (or http-proxy's URL join) resolves `..`,
 * `%2e%2e`, `//` and decoded slashes. So `/public/../admin` would match `/public` and reach
 * `/admin` past its middlewares. Rather than rewrite such paths, the gateway answers 400: a
 * path is forwarded only when it is already in normal form. The query string is not checked;
 * fastify itself refuses malformed percent-escapes in the path.
 */
export function refuseRequestTarget(url: string, maxUrlLength: number): RefusedTarget | undefined {
  if (url.length > maxUrlLength) return { statusCode: 414, message: `URL longer than ${maxUrlLength} characters` };
  const queryStart = url.indexOf('?');
  const path = queryStart === -1 ? url : url.slice(0, queryStart);
  if (path[0] !== '/') return { statusCode: 400, message: "path must start with '/'" };
  if (DOT_SEGMENT.test(path)) return { statusCode: 400, message: "path has a '.' or '..' segment" };
  if (path.includes('//')) return { statusCode: 400, message: 'path has an empty segment' };
  if (HIDDEN_SEPARATOR.test(path)) return { statusCode: 400, message: 'path has an encoded slash, a backslash or NUL' };
  // A client never sends a fragment; one in the target could end a dot segment for the service
  // (`/public/..#`) or be read into a cache key (`/p#auth=…`).
  if (url.includes('#')) return { statusCode: 400, message: "request target has a '#'" };
  return undefined;
}

/**
 * Refuses a request line of another HTTP version than 1.0 or 1.1, and what nginx refuses of a
 * `Host`: none on an HTTP/1.1 request, an empty one, one that is not `host[:port]`, or two of
 * them (Node keeps the first; a service behind may read the other). `X-Forwarded-Host` is held
 * to the same rules, and `X-Forwarded-Proto` to a scheme's, whether or not the peer is trusted:
 * behind a trusted proxy they are the host and scheme the service is told and the cache keys on,
 * so `X-Forwarded-Host: gw/p/victim?x=` would otherwise spell another URL's key.
 */
export function refuseRequestHead(req: {
  headers: { host?: string; 'x-forwarded-host'?: string | string[]; 'x-forwarded-proto'?: string | string[] };
  rawHeaders: string[];
  httpVersion: string;
}): RefusedTarget | undefined {
  // Node serves a request line without a version as HTTP/0.9, headers and all: a line a
  // proxy in front may have framed differently. Envoy and HAProxy refuse it too.
  // HTTP/2 (a gRPC call) names its host in `:authority`, which Node's HTTP/2 server checks.
  const http2 = req.httpVersion === '2.0';
  if (!http2 && req.httpVersion !== '1.1' && req.httpVersion !== '1.0') return { statusCode: 400, message: 'HTTP/1.0, HTTP/1.1 or HTTP/2 only' };
  const host = req.headers.host;
  if (host === undefined && !http2) return req.httpVersion === '1.0' ? undefined : { statusCode: 400, message: 'Host header missing' };
  if (host !== undefined && !VALID_HOST.test(host)) return { statusCode: 400, message: 'Host header is not a host[:port]' };
  const { 'x-forwarded-host': forwardedHost, 'x-forwarded-proto': forwardedProto } = req.headers;
  if (forwardedHost !== undefined && !everyElement(String(forwardedHost), VALID_HOST)) {
    return { statusCode: 400, message: 'X-Forwarded-Host is not a list of host[:port]' };
  }
  if (forwardedProto !== undefined && !everyElement(String(forwardedProto), VALID_SCHEME)) {
    return { statusCode: 400, message: 'X-Forwarded-Proto is not a list of schemes' };
  }
  let hosts = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 4 && raw[i].toLowerCase() === 'host' && ++hosts > 1) return { statusCode: 400, message: 'more than one Host header' };
  }
  return undefined;
}
