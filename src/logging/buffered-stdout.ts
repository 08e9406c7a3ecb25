import { writeSync } from 'node:fs';
import sonicBoom, { type SonicBoom } from 'sonic-boom';
import type { GatewayLogger } from './logger.js';

/**
 * Lines wait in memory until this many bytes are there (or `LOG_FLUSH_INTERVAL_MS` passed), then
 * go out in one write of whole lines, as nginx's `access_log … buffer=32k flush=1s` does. Not
 * 32 KiB on a pipe: workers share their primary's stdout, and a write to a pipe is whole only up
 * to PIPE_BUF (4 KiB on Linux): a larger one can interleave with another worker's, splitting lines.
 * Measured on /hello (the gateway pinned to one core, stdout a file), CPU per request over the
 * log off: a write per line +16-27 µs; 4 KiB writes through libuv's thread pool (sonic-boom's
 * async mode) +20-30 µs, as that thread takes the same core and adds a hand-off; 4 KiB writes
 * from the event loop +20 µs. So writes are made here, batched, from the event loop.
 *
 * Not larger on a regular file either, though a file's write costs mostly the call: each line
 * waits as a `Buffer` of its own, and 64 KiB of them (~330 lines, ~13 ms of traffic) outlived
 * the young generation's collections (one every ~5 ms under load). Promoted, they brought a full
 * collection every ~0.8 s (every 2-3 s with the log off), with pauses of 10-20 ms: `/hello`'s
 * p99 went from 3-8 ms to 14-18 ms, and the µs of CPU a request the larger writes saved did not
 * make up for the requests those pauses held (see docs/performance.md).
 */
export const LOG_WRITE_BYTES = 4096;
/** Buffered lines go out at least this often, so a quiet gateway's lines are not held back. */
export const LOG_FLUSH_INTERVAL_MS = 1000;
/**
 * What may wait for a stdout that does not keep up (a stuck or slow reader), about a second of
 * lines at full speed: past it, lines are dropped, and counted in a warning once stdout takes
 * lines again.
 */
export const MAX_BUFFERED_LOG_BYTES = 4 * 1024 * 1024;
/** How long a clean stop waits for buffered lines to go out before it gives up on stdout. */
export const LOG_FLUSH_TIMEOUT_MS = 3000;
/** How long the exit's last write waits for a full stdout. */
const EXIT_FLUSH_TIMEOUT_MS = 1000;
const FLUSH_RETRY_MS = 20;

const WARNING_LEVEL = 40;

let stdout: SonicBoom | undefined;

/**
 * The process's one buffered stdout: a write per `LOG_WRITE_BYTES` of lines, at least once a
 * second, and at a clean stop (`flushLog`) and `process.exit`; a crash loses up to the last
 * second of lines. A full stdout never blocks the event loop: the lines wait (up to
 * `MAX_BUFFERED_LOG_BYTES`) for the next write.
 */
export function bufferedStdout(): SonicBoom {
  if (stdout) return stdout;
  // Node opens a pipe on fd 1 in non-blocking mode when `process.stdout` is first read: a full
  // pipe then answers EAGAIN, where a blocking one would hold the event loop in write() for as
  // long as nobody reads it.
  void process.stdout;
  const log = openBufferedLog(1);
  process.on('exit', log.flushAtExit);
  stdout = log.stream;
  return stdout;
}

/** Buffered lines on a file descriptor, and the last write its process makes at exit. */
export interface BufferedLog {
  stream: SonicBoom;
  /** Writes out what waits, trying a full `fd` for up to a second; says on `stderrFd` if it gave up. */
  flushAtExit: () => void;
}

/** Lines buffered as `bufferedStdout` describes, on any non-blocking `fd` (stdout's is 1). */
export function openBufferedLog(fd: number, stderrFd = 2): BufferedLog {
  // Set at exit, the only time a full `fd` is waited for (sleeping 100 ms between tries), and
  // only until then: no reader may ever come.
  let giveUpAt: number | undefined;
  let dropped = 0;
  const stream = new sonicBoom.SonicBoom({
    fd,
    sync: true,
    minLength: LOG_WRITE_BYTES - 1,
    maxWrite: LOG_WRITE_BYTES,
    maxLength: MAX_BUFFERED_LOG_BYTES,
    periodicFlush: LOG_FLUSH_INTERVAL_MS,
    // A full pipe: sonic-boom would sleep on the event loop and try again; the lines wait instead.
    retryEAGAIN: () => giveUpAt !== undefined && Date.now() < giveUpAt,
    // Lines kept as bytes. Kept as text, every line appended measured the UTF-8 length of all the
    // text waiting before it (up to 4 KiB, flattened first): twice the cost of a line.
    contentMode: 'buffer',
  });
  const appendBytes = stream.write as unknown as (this: SonicBoom, bytes: Uint8Array) => boolean;
  // pino and the gateway's lines hand over text; sonic-boom sets its writer on each stream.
  stream.write = (line: string) => appendBytes.call(stream, Buffer.from(line));
  stream.on('drop', () => dropped++);
  stream.on('write', () => {
    if (dropped === 0) return;
    const line = { level: WARNING_LEVEL, time: Date.now(), pid: process.pid, context: 'Logging', msg: `${dropped} log line(s) dropped: stdout did not keep up` };
    dropped = 0;
    process.nextTick(() => stream.write(`${JSON.stringify(line)}\n`));
  });
  stream.on('error', (error: NodeJS.ErrnoException) => {
    // Nobody reads stdout any more (`| head` ended): what is logged from now on goes nowhere. A
    // full one (EAGAIN) is tried again at the next write.
    if (error.code === 'EPIPE') broken(stream);
  });
  const flushAtExit = () => {
    giveUpAt = Date.now() + EXIT_FLUSH_TIMEOUT_MS;
    try {
      stream.flushSync();
    } catch (error) {
      const message = `buffered log lines lost at exit: ${(error as Error).message}\n`;
      try {
        writeSync(stderrFd, message);
      } catch {
        // stderr is gone as well.
      }
    }
  };
  return { stream, flushAtExit };
}

function broken(stream: SonicBoom): void {
  const nothing = () => true;
  Object.assign(stream, { write: nothing, flushSync: () => undefined, flush: (done?: (error?: Error) => void) => done?.() });
}

/**
 * Writes out what `logger` holds back, trying a full stdout again for at most `timeoutMs`: a stop
 * is not held up by a stdout nobody reads. Loggers that hold nothing back resolve at once.
 */
export function flushLog(logger: GatewayLogger, timeoutMs = LOG_FLUSH_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise<void>((resolve) => {
    const attempt = () =>
      logger.flush((error?: NodeJS.ErrnoException) => {
        if (error?.code === 'EAGAIN' && Date.now() < deadline) setTimeout(attempt, FLUSH_RETRY_MS);
        else resolve();
      });
    attempt();
  });
}
