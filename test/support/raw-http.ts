import { connect } from 'node:net';

export interface RawResponse {
  /** Status code of the first response, 0 when none came. */
  status: number;
  /** Everything the server sent. */
  text: string;
  /** The server closed the connection (rather than the client timing out). */
  closedByServer: boolean;
}

/**
 * Sends `payload` as is on a new connection to 127.0.0.1:`port` and reads until the server closes
 * it or `waitMs` passes: for requests no HTTP client would send (bad framing, raw paths).
 */
export function rawRequest(port: number, payload: string | Buffer, waitMs = 2000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = (closedByServer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text, closedByServer });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => finish(true));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? finish(true) : reject(error)));
    socket.write(payload);
  });
}

/** A GET for `path` exactly as written, on a connection the client closes after the response. */
export const rawGet = (path: string, headers = '') =>
  `GET ${path} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n${headers}\r\n`;

/**
 * Sends a request head with `Expect: 100-continue`, and its body only once the server says
 * `100 Continue`, as a client that asked must; reads until the server closes or `waitMs` passes.
 */
export function sendAfterContinue(port: number, head: string, body: Buffer, waitMs = 3000): Promise<{ text: string; sentBody: boolean; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let sentBody = false;
    const finish = (closedByServer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, sentBody, closedByServer });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      // A client that asked sends its body once told to, and not before.
      if (!sentBody && text.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        sentBody = true;
        socket.write(body);
      }
    });
    socket.on('end', () => finish(true));
    socket.on('error', () => finish(true));
    socket.write(head);
  });
}
