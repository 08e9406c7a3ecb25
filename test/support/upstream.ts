import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What an upstream saw of one request. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bodyBytes: number;
  bodySha256: string;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

export interface Upstream {
  url: string;
  port: number;
  seen: SeenRequest[];
  close(): Promise<void>;
}

/** Answers with JSON describing the request it received. */
export const echo: UpstreamHandler = (req, res, body) => {
  const payload = JSON.stringify({
    method: req.method,
    url: req.url,
    headers: req.headers,
    body: body.toString('utf8'),
  });
  res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'echo' });
  res.end(payload);
};

/**
 * A real HTTP service on an ephemeral port of 127.0.0.1 that records every request it sees.
 * The body is read whole only to hash it; handlers that stream get it through `req` when
 * `streaming` is set.
 */
export async function startUpstream(handler: UpstreamHandler = echo, options: { streaming?: boolean } = {}): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const hash = createHash('sha256');
    let bodyBytes = 0;
    const record = () =>
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, bodyBytes, bodySha256: hash.digest('hex') });
    if (options.streaming) {
      req.on('data', (chunk: Buffer) => {
        bodyBytes += chunk.length;
        hash.update(chunk);
      });
      req.on('end', record);
      handler(req, res, Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      bodyBytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      record();
      handler(req, res, Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port that nothing listens on: a server is started on it and closed. */
export async function deadPort(): Promise<number> {
  const upstream = await startUpstream();
  await upstream.close();
  return upstream.port;
}
