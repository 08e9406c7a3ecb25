import { once } from 'node:events';
import { connect, createServer, type IncomingHttpHeaders, type Http2ServerRequest } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Http2GatewayResponse } from './http2-response.js';

type Write = (res: Http2GatewayResponse) => void;

/** What an HTTP/2 client gets from a response written by `write`. */
async function answerOf(write: Write): Promise<IncomingHttpHeaders> {
  const server = createServer({ Http2ServerResponse: Http2GatewayResponse }, (_req: Http2ServerRequest, res) => {
    write(res as Http2GatewayResponse);
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const session = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const stream = session.request({ ':path': '/' });
    const [headers] = (await once(stream, 'response')) as [IncomingHttpHeaders];
    stream.resume();
    await once(stream, 'end');
    return headers;
  } finally {
    session.close();
    server.close();
  }
}

const CONNECTION = { connection: 'close', 'keep-alive': 'timeout=5', 'proxy-connection': 'x', 'transfer-encoding': 'chunked', upgrade: 'h2c' };

describe('Http2GatewayResponse', () => {
  let warnings: string[];
  const onWarning = (warning: Error) => warnings.push(warning.message);
  beforeEach(() => {
    warnings = [];
    process.on('warning', onWarning);
  });
  afterEach(() => {
    process.off('warning', onWarning);
  });

  it.each<[string, Write]>([
    ['an object', (res) => res.writeHead(200, { ...CONNECTION, 'x-kept': '1' })],
    ['a flat list', (res) => res.writeHead(200, ['x-kept', '1', ...Object.entries(CONNECTION).flat(), 'set-cookie', 'a=1', 'set-cookie', 'b=2'])],
    ['a list of pairs', (res) => res.writeHead(200, [...Object.entries(CONNECTION), ['x-kept', '1']] as never)],
    ['a reason phrase and an object', (res) => res.writeHead(200, 'Fine', { ...CONNECTION, 'x-kept': '1' })],
    ['setHeader and appendHeader', (res) => {
      for (const [name, value] of Object.entries(CONNECTION)) {
        res.setHeader(name, value);
        res.appendHeader(name, value);
      }
      res.setHeader('x-kept', '1');
      res.appendHeader('x-kept', '2');
    }],
  ])('drops connection-specific headers written as %s, keeping the others, without a warning', async (_how, write) => {
    const headers = await answerOf(write);
    expect(headers[':status']).toBe(200);
    expect(headers['x-kept']).toMatch(/^1/);
    for (const name of Object.keys(CONNECTION)) expect(headers[name]).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('keeps every set-cookie of a flat list, and a head without connection headers as it is', async () => {
    expect((await answerOf((res) => res.writeHead(200, ['set-cookie', 'a=1', 'set-cookie', 'b=2'])))['set-cookie']).toEqual(['a=1', 'b=2']);
    expect((await answerOf((res) => res.writeHead(204)))[':status']).toBe(204);
    expect((await answerOf((res) => res.writeHead(200, [['x-a', '1']] as never)))['x-a']).toBe('1');
  });
});
