import type { IncomingMessage } from 'node:http';
import { toClientHeaders, toHeaderObject, toUpstreamHeaders } from './upstream-headers.js';


describe('toUpstreamHeaders', () => {
  it('drops hop-by-hop headers and those Connection names, but never the framing ones', () => {
    const req = {
      headers: {
        connection: 'keep-alive, X-Custom-Hop, content-length, Transfer-Encoding, host',
        'keep-alive': 'timeout=5',
        'x-custom-hop': '1',
        'transfer-encoding': 'chunked',
        'content-length': '5',
        upgrade: 'h2c',
        expect: '100-continue',
        host: 'example',
        'content-type': 'text/plain',
        'x-forwarded-for': '1.2.3.4',
        'x-forwarded-port': '99',
        // Node keeps a repeated set-cookie as a list.
        'set-cookie': ['a=1', 'b=2'],
      },
    } as unknown as IncomingMessage;
    const request = { req, id: 'r-1', clientAddress: '10.0.0.9', clientIp: '10.0.0.9', clientProtocol: 'http', clientHost: 'gateway.example' };
    expect(toUpstreamHeaders(request, 'service:3000', '5')).toEqual([
      'host', 'service:3000',
      'content-type', 'text/plain',
      'set-cookie', 'a=1',
      'set-cookie', 'b=2',
      'x-forwarded-for', '1.2.3.4, 10.0.0.9',
      'x-forwarded-proto', 'http',
      'x-forwarded-host', 'gateway.example',
      'x-request-id', 'r-1',
      'content-length', '5',
    ]);
    // The client's own headers are left for the stages that read them later.
    expect(req.headers['transfer-encoding']).toBe('chunked');
  });
});

describe('toClientHeaders', () => {
  it('keeps repeated headers as lists and drops the service connection headers', () => {
    const raw = ['Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'Keep-Alive', 'timeout=5', 'Connection', 'keep-alive, x-hop', 'X-Hop', '1', 'Content-Type', 'text/plain'];
    const list = toClientHeaders(raw.map((value) => Buffer.from(value)));
    expect(list).toEqual(['set-cookie', 'a=1', 'set-cookie', 'b=2', 'content-type', 'text/plain']);
    expect(toHeaderObject(list)).toEqual({ 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' });
    expect(toHeaderObject(['__proto__', 'x', 'a', '1', 'a', '2', 'a', '3'])).toEqual(Object.assign(Object.create(null), { ['__proto__']: 'x', a: ['1', '2', '3'] }));
  });
});
