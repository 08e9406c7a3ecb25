/** Why a request target is refused before it is matched to a route's middlewares or forwarded. */
export interface RefusedTarget {
  statusCode: 400 | 414;
  message: string;
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
  return undefined;
}
