import fc from 'fast-check';
import { refuseRequestHead, refuseRequestTarget } from './request-target.js';

const LIMIT = 8192;
const pathPart = (url: string) => url.split('?')[0];

// Pieces that parsers treat specially, so that generated paths hit every rule and their mixes.
const piece = fc.constantFrom('a', 'b.c', '.', '..', '...', '/', '%2e', '%2E', '%2f', '%5C', '\\', ';', '%41', '%00', '?', '=', '#');
const anyPath = fc.array(piece, { maxLength: 12 }).map((pieces) => `/${pieces.join('')}`);

describe('refuseRequestTarget', () => {
  it('never throws, whatever the string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (url) => {
        const refused = refuseRequestTarget(url, LIMIT);
        expect(refused === undefined || [400, 414].includes(refused.statusCode)).toBe(true);
      }),
    );
  });

  it('accepts only paths that a standard URL parser leaves exactly as they are', () => {
    fc.assert(
      fc.property(anyPath, (url) => {
        fc.pre(refuseRequestTarget(url, LIMIT) === undefined);
        // The WHATWG parser resolves `.`, `..`, `%2e` and turns `\` into `/`: nothing to resolve.
        expect(new URL(`http://gateway.test${url}`).pathname).toBe(pathPart(url));
        expect(pathPart(url)).not.toMatch(/%2f|%5c|\\|\/\/|\/\.\.;/i);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses every path that a standard URL parser would change', () => {
    fc.assert(
      fc.property(anyPath, (url) => {
        const pathname = new URL(`http://gateway.test${url}`).pathname;
        fc.pre(pathname !== pathPart(url));
        expect(refuseRequestTarget(url, LIMIT)?.statusCode).toBe(400);
      }),
      { numRuns: 2000 },
    );
  });

  it('answers 414 over the length limit and checks the path only up to the query', () => {
    expect(refuseRequestTarget(`/${'a'.repeat(20)}`, 10)?.statusCode).toBe(414);
    expect(refuseRequestTarget(`/${'a'.repeat(9)}`, 10)).toBeUndefined();
    expect(refuseRequestTarget('/a?next=../../b//c', LIMIT)).toBeUndefined();
    expect(refuseRequestTarget('http://other.test/a', LIMIT)?.message).toBe("path must start with '/'");
  });
});

describe('refuseRequestHead', () => {
  const request = (rawHeaders: string[], httpVersion = '1.1') => {
    const headers: { host?: string } = {};
    for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === 'host') headers.host ??= rawHeaders[i + 1];
    return { headers, rawHeaders, httpVersion };
  };

  it.each([['gateway.test'], ['gateway.test:8080'], ['127.0.0.1:3000'], ['[::1]:8080'], ['xn--bcher-kva.example']])('accepts %s', (host) => {
    expect(refuseRequestHead(request(['Host', host]))).toBeUndefined();
  });

  it.each([[''], ['evil.example/path'], ['a?b'], ['a#b'], ['user@host'], ['two words'], ['host:port']])('refuses %j', (host) => {
    expect(refuseRequestHead(request(['Host', host]))).toEqual({ statusCode: 400, message: 'Host header is not a host[:port]' });
  });

  it('refuses a repeated Host, and a missing one except on HTTP/1.0', () => {
    expect(refuseRequestHead(request(['Host', 'a.test', 'X-A', '1', 'host', 'b.test']))?.message).toBe('more than one Host header');
    // Other four-letter names are no Host.
    expect(refuseRequestHead(request(['Host', 'a.test', 'Date', 'Tue, 01 Dec 2026 00:00:00 GMT', 'From', 'a@b.example']))).toBeUndefined();
    expect(refuseRequestHead(request([]))?.message).toBe('Host header missing');
    expect(refuseRequestHead(request([], '1.0'))).toBeUndefined();
    expect(refuseRequestHead(request(['Host', 'a.test'], '0.9'))?.message).toBe('HTTP/1.0, HTTP/1.1 or HTTP/2 only');
  });

  it('reads an HTTP/2 request\'s host from :authority, held to the rules of a Host, and refuses a Host that differs', () => {
    const h2 = (headers: Record<string, string>) => ({ headers, rawHeaders: Object.entries(headers).flat(), httpVersion: '2.0' });
    expect(refuseRequestHead(h2({ ':authority': 'a.test:8443' }))).toBeUndefined();
    expect(refuseRequestHead(h2({ ':authority': 'a.test', host: 'a.test' }))).toBeUndefined();
    expect(refuseRequestHead(h2({ host: 'a.test' }))).toBeUndefined();
    expect(refuseRequestHead(h2({ ':authority': 'a.test', host: 'b.test' }))).toEqual({ statusCode: 400, message: ':authority and Host differ' });
    expect(refuseRequestHead(h2({ ':authority': 'evil.example/path' }))?.message).toBe('Host header is not a host[:port]');
    expect(refuseRequestHead(h2({}))?.message).toBe('Host header missing');
    expect(refuseRequestHead(h2({ ':authority': 'a.test', 'x-forwarded-host': 'gw/p/victim?x=' }))?.statusCode).toBe(400);
  });

  it.each([['gw.example'], ['gw.example:8443'], ['a.example, b.example'], ['[::1]']])('accepts X-Forwarded-Host %j', (forwarded) => {
    expect(refuseRequestHead({ ...request(['Host', 'a.test']), headers: { host: 'a.test', 'x-forwarded-host': forwarded } })).toBeUndefined();
  });

  it.each([['gw/p/victim?x='], ['two words'], ['"quoted"'], ['a.example,'], ['']])('refuses X-Forwarded-Host %j as it refuses such a Host', (forwarded) => {
    expect(refuseRequestHead({ ...request(['Host', 'a.test']), headers: { host: 'a.test', 'x-forwarded-host': forwarded } })).toEqual({
      statusCode: 400,
      message: 'X-Forwarded-Host is not a list of host[:port]',
    });
  });

  it('accepts X-Forwarded-Proto that lists schemes and refuses anything else', () => {
    const withProto = (proto: string) => refuseRequestHead({ ...request(['Host', 'a.test']), headers: { host: 'a.test', 'x-forwarded-proto': proto } });
    expect(withProto('https')).toBeUndefined();
    expect(withProto('http, https')).toBeUndefined();
    for (const proto of ['https://x', 'ht tp', '1http', '']) expect(withProto(proto)?.message).toBe('X-Forwarded-Proto is not a list of schemes');
  });
});
