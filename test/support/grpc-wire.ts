import { connect, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';

/** One raw HTTP/2 request to the gateway: the head, the body and the trailers the client got. */
export function h2(url: string, headers: OutgoingHttpHeaders, body?: Buffer): Promise<{ head: IncomingHttpHeaders; body: Buffer; trailers?: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const session = connect(url);
    session.on('error', reject);
    const stream = session.request(headers);
    const chunks: Buffer[] = [];
    let head: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    stream.on('response', (received) => (head = received));
    stream.on('trailers', (received) => (trailers = received));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      session.close();
      resolve({ head, body: Buffer.concat(chunks), trailers });
    });
    stream.end(body);
  });
}

/** A gRPC message frame: uncompressed, its length, its bytes. */
export function frame(message: string): Buffer {
  const payload = Buffer.from(message);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

