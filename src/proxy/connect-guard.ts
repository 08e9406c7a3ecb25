import type { Socket } from 'node:net';
import type { buildConnector } from 'undici';

/** The first pause after a refused connect; it doubles with each refusal in a row. */
const FIRST_BACKOFF_MS = 5;
/** Short enough that a target coming back is reached within a tenth of a second. */
const MOST_BACKOFF_MS = 50;

/**
 * Wraps undici's connector for one target:
 * - A socket connected to itself is dropped at once, as refused. Connecting to a dead port of
 *   127.0.0.1 inside the kernel's ephemeral range (32768-60999) can pick that same port as the
 *   source, and TCP's simultaneous open then "connects": the request would be read back as its
 *   own response.
 * - After a refusal, connects fail at once for a pause (5 ms, doubling to 50 ms while refusals go
 *   on), so that a dead target is not asked to connect by every request; the first connect that
 *   succeeds ends it.
 */
export function guardConnects(connect: buildConnector.connector): buildConnector.connector {
  let refusedUntil = 0;
  let backoff = 0;
  return (options, callback) => {
    if (backoff && Date.now() < refusedUntil) return callback(refused(options, 'the last connect was refused'), null);
    connect(options, (error, socket) => {
      if (error) {
        if ((error as NodeJS.ErrnoException).code === 'ECONNREFUSED') return refuse(error);
        return callback(error, null);
      }
      if (isConnectedToItself(socket!)) {
        socket!.destroy();
        return refuse(refused(options, 'the socket connected to itself'));
      }
      backoff = 0;
      callback(null, socket!);
    });
    function refuse(error: Error): void {
      backoff = Math.min(backoff ? backoff * 2 : FIRST_BACKOFF_MS, MOST_BACKOFF_MS);
      refusedUntil = Date.now() + backoff;
      callback(error, null);
    }
  };
}

function isConnectedToItself(socket: Socket): boolean {
  return socket.localPort === socket.remotePort && socket.localAddress === socket.remoteAddress;
}

function refused(options: buildConnector.Options, why: string): Error {
  return Object.assign(new Error(`connect ECONNREFUSED ${options.hostname}:${options.port} (${why})`), { code: 'ECONNREFUSED' });
}
