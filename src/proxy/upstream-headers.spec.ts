import type { IncomingMessage } from 'node:http';
import { toClientHeaders, toUpstreamHeaders } from './upstream-headers.js';

const client = { address: '10.0.0.9', protocol: 'http', host: 'gateway.example' };

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
      },
    } as unknown as IncomingMessage;
    expect(toUpstreamHeaders(req, 'service:3000', client)).toEqual({
      host: 'service:3000',
      'content-type': 'text/plain',
      'x-forwarded-for': '1.2.3.4, 10.0.0.9',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'gateway.example',
    });
  });
});

describe('toClientHeaders', () => {
  it('keeps repeated headers as lists and drops the service connection headers', () => {
    const raw = ['Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'Keep-Alive', 'timeout=5', 'Connection', 'keep-alive, x-hop', 'X-Hop', '1', 'Content-Type', 'text/plain'];
    expect(toClientHeaders(raw.map((value) => Buffer.from(value)))).toEqual({ 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' });
  });
});
