import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { type RawData, WebSocket, WebSocketServer } from 'ws';

/** What a WebSocket service saw of one upgrade request. */
export interface SeenUpgrade {
  url: string;
  headers: IncomingHttpHeaders;
}

export interface WebSocketService {
  url: string;
  port: number;
  /** Upgrade requests that reached the service, upgraded or not. */
  seen: SeenUpgrade[];
  /** The service's side of every connection it accepted. */
  sockets: WebSocket[];
  /** The service's side of the connection upgraded at each URL (the latest one). */
  byUrl: Map<string, WebSocket>;
  /** Connections the service saw close. */
  closed: number;
  /** Whether `GET /health` answers 200 (true) or 503. */
  healthy: boolean;
  /** While true, upgrade requests get no answer until `releaseHandshakes()`. */
  holdHandshakes: boolean;
  /** Answers the upgrade requests held so far. */
  releaseHandshakes(): void;
  /** Upgrade requests that reached the service (health checks and plain requests left out). */
  upgrades(): number;
  close(): Promise<void>;
}

/**
 * A WebSocket service on an ephemeral port of 127.0.0.1 that echoes every message as it came
 * (text as text, binary as binary) and records the upgrade requests it saw. A request for
 * `/plain...` is answered as plain HTTP (a service that is no WebSocket endpoint), `/declined...`
 * with a 403 carrying cache instructions and connection headers; `GET /health`
 * answers as `healthy` says.
 */
export async function startWebSocketService(): Promise<WebSocketService> {
  const seen: SeenUpgrade[] = [];
  const sockets: WebSocket[] = [];
  const byUrl = new Map<string, WebSocket>();
  const held: (() => void)[] = [];
  const service = { closed: 0, healthy: true, holdHandshakes: false } as WebSocketService;
  const server: Server = createServer((req, res) => {
    if (req.url === '/health') {
      res.writeHead(service.healthy ? 200 : 503, { 'content-length': '0' });
      return res.end();
    }
    seen.push({ url: req.url!, headers: req.headers });
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
    res.end('plain');
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
  const accept = (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.push(ws);
      byUrl.set(req.url!, ws);
      ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data as Buffer, { binary: isBinary }));
      ws.on('close', () => (service.closed += 1));
      ws.on('error', () => undefined);
    });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    seen.push({ url: req.url!, headers: req.headers });
    if (req.url!.startsWith('/plain')) {
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nconnection: close\r\n\r\nplain');
      return;
    }
    if (req.url!.startsWith('/declined')) {
      // Refuses with the instructions and connection headers a service sends any answer.
      socket.end(
        'HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nx-cache-timeout: 1 minute\r\nx-cache-expire: */numbers*\r\n' +
          'connection: keep-alive\r\nkeep-alive: timeout=5\r\nx-request-id: the-service-id\r\ntransfer-encoding: chunked\r\n\r\n2\r\nno\r\n0\r\n\r\n',
      );
      return;
    }
    if (service.holdHandshakes) held.push(() => accept(req, socket, head));
    else accept(req, socket, head);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(service, {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    sockets,
    byUrl,
    releaseHandshakes: () => held.splice(0).forEach((answer) => answer()),
    upgrades: () => seen.filter((request) => request.headers.upgrade).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

export type Opened = { ws: WebSocket; status: 101 } | { ws?: undefined; status: number; body: string; headers: IncomingHttpHeaders };

/**
 * Opens a WebSocket to `url` (`http://` is turned into `ws://`): the open socket, or the status,
 * headers and body of the HTTP answer given instead of an upgrade (0 when the connection failed).
 */
export function openWebSocket(url: string, headers: Record<string, string> = {}): Promise<Opened> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers, maxPayload: 64 * 1024 * 1024 });
    ws.once('open', () => resolve({ ws, status: 101 }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      res.on('error', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    ws.once('error', () => resolve({ status: 0, body: '', headers: {} }));
  });
}

/** Opens a WebSocket that must be accepted. */
export async function mustOpen(url: string, headers?: Record<string, string>): Promise<WebSocket> {
  const opened = await openWebSocket(url, headers);
  if (!opened.ws) throw new Error(`expected an upgrade of ${url}, got ${opened.status}`);
  opened.ws.on('error', () => undefined);
  return opened.ws;
}

/** Sends one message and resolves with the next one received, as it came. */
export function roundTrip(ws: WebSocket, data: Buffer | string): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => {
    ws.once('message', (received: RawData, isBinary: boolean) => resolve({ data: received as Buffer, isBinary }));
    ws.send(data, { binary: typeof data !== 'string' });
  });
}

/** Resolves once `ws` is closed. */
export function closed(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => ws.once('close', () => resolve()));
}

/** The number of TCP sockets and servers this process holds open. */
export function openTcpHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap' || name === 'TCPServerWrap').length;
}
