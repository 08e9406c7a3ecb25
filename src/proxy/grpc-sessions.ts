import { type ClientHttp2Session, connect, type SecureClientSessionOptions } from 'node:http2';
import type { UpstreamTls } from './forward-contracts.js';

/**
 * The HTTP/2 connection to one gRPC target, shared by every call to it (HTTP/2 multiplexes
 * them): made on the first call, made again on the next call once the target sent GOAWAY, or
 * the connection closed or failed. Calls in flight on a session that got GOAWAY end on it.
 */
export class GrpcSessions {
  private session?: ClientHttp2Session;
  private readonly options: SecureClientSessionOptions;

  /** `http:` is h2c with prior knowledge; `https:` is h2 negotiated by ALPN, with the route's TLS. */
  constructor(
    private readonly origin: string,
    tls: UpstreamTls | undefined,
  ) {
    // Verification stays on (`rejectUnauthorized` defaults to true): no option turns it off.
    this.options = { ...tls, ALPNProtocols: ['h2'] };
  }

  /** The session new calls go on. */
  current(): ClientHttp2Session {
    const open = this.session;
    if (open && !open.closed && !open.destroyed) return open;
    const session = connect(this.origin, this.options);
    // A failed connect or a broken connection fails the calls on it, each through its stream.
    session.on('error', () => undefined);
    const forget = () => {
      if (this.session === session) this.session = undefined;
    };
    session.once('goaway', forget);
    session.once('close', forget);
    this.session = session;
    return session;
  }

  /** Closes the session once its calls have ended. */
  close(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (!session || session.destroyed) return Promise.resolve();
    return new Promise((resolve) => session.close(resolve));
  }
}
