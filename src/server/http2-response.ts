import { Http2ServerResponse } from 'node:http2';
import type { OutgoingHttpHeaders } from 'node:http';

/**
 * Headers that describe an HTTP/1.1 connection (RFC 9113 §8.2.2): an HTTP/2 response carrying
 * one is malformed. Node drops `connection` with a warning and fails the response on the others.
 */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

type HeadList = (string | string[] | number)[] | [string, string | string[] | number][];
type Head = OutgoingHttpHeaders | HeadList;

const isConnectionSpecific = (name: string) => CONNECTION_SPECIFIC.has(name.toLowerCase());

/** `head` without connection-specific headers; the same object when it has none. */
function withoutConnectionHeaders(head: Head): Head {
  if (!Array.isArray(head)) {
    let kept: OutgoingHttpHeaders | undefined;
    for (const name in head) {
      if (!isConnectionSpecific(name)) continue;
      kept ??= { ...head };
      delete kept[name];
    }
    return kept ?? head;
  }
  if (head.length > 0 && Array.isArray(head[0])) {
    const pairs = head as [string, string | string[] | number][];
    return pairs.some(([name]) => isConnectionSpecific(name)) ? pairs.filter(([name]) => !isConnectionSpecific(name)) : pairs;
  }
  const flat = head as (string | string[] | number)[];
  let kept: (string | string[] | number)[] | undefined;
  for (let i = 0; i < flat.length; i += 2) {
    if (isConnectionSpecific(String(flat[i]))) kept ??= flat.slice(0, i);
    else kept?.push(flat[i], flat[i + 1]);
  }
  return kept ?? flat;
}

/**
 * The response of an HTTP/2 stream, as every writer in the gateway uses it: the headers an
 * HTTP/1.1 response would carry for its connection (`connection: close` while draining, a
 * service's `keep-alive`, a middleware's `transfer-encoding`) are left out, where Node would warn
 * or fail the stream. HTTP/2 has no reason phrase either: one given is dropped, not warned about.
 */
export class Http2GatewayResponse extends Http2ServerResponse {
  override setHeader(name: string, value: string | number | readonly string[]): void {
    if (!isConnectionSpecific(name)) super.setHeader(name, value);
  }

  override appendHeader(name: string, value: string | string[]): void {
    if (!isConnectionSpecific(name)) super.appendHeader(name, value);
  }

  override writeHead(statusCode: number, reasonOrHead?: string | Head, head?: Head): this {
    const given = typeof reasonOrHead === 'string' ? head : reasonOrHead;
    if (given === undefined) return super.writeHead(statusCode);
    return super.writeHead(statusCode, withoutConnectionHeaders(given) as OutgoingHttpHeaders);
  }
}
