import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { flushLog, LOG_WRITE_BYTES, openBufferedLog, type BufferedLog } from './buffered-stdout.js';

/**
 * A named pipe standing in for a process's stdout: both ends non-blocking, as Node leaves a
 * piped fd 1, so that once its reader stops reading, writes answer EAGAIN.
 */
class Pipe {
  private readonly dir = mkdtempSync(join(tmpdir(), 'gateway-log-'));
  private reader: number;
  readonly writer: number;

  constructor() {
    const path = join(this.dir, 'fifo');
    execFileSync('mkfifo', [path]);
    this.reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    this.writer = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  }

  /** Everything the pipe holds now. */
  read(): string {
    const chunks: Buffer[] = [];
    const buffer = Buffer.alloc(64 * 1024);
    for (;;) {
      try {
        const n = readSync(this.reader, buffer);
        if (n === 0) break;
        chunks.push(Buffer.from(buffer.subarray(0, n)));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw error;
      }
    }
    return Buffer.concat(chunks).toString();
  }

  /** Fills the pipe with bytes that are not log lines, as a reader that stopped leaves it. */
  fill(): void {
    const block = Buffer.alloc(LOG_WRITE_BYTES, ' ');
    for (;;) {
      try {
        writeSync(this.writer, block);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return;
        throw error;
      }
    }
  }

  /** The reader goes away, as `| head` does once it has its lines. */
  closeReader(): void {
    closeSync(this.reader);
    this.reader = -1;
  }

  /** Closes what the log did not: the log closes the writing end when destroyed. */
  remove(): void {
    if (this.reader >= 0) closeSync(this.reader);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const linesOf = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('openBufferedLog', () => {
  const opened: { pipe: Pipe; log: BufferedLog }[] = [];
  const open = (stderrFd?: number) => {
    const pipe = new Pipe();
    const log = openBufferedLog(pipe.writer, stderrFd);
    opened.push({ pipe, log });
    return { pipe, log, logger: pino({ base: undefined, timestamp: false }, log.stream) };
  };
  afterEach(async () => {
    for (const { pipe, log } of opened.splice(0)) {
      await new Promise<void>((resolve) => {
        log.stream.once('close', resolve);
        log.stream.destroy();
      });
      pipe.remove();
    }
  });

  it('holds lines back until a flush writes them out', async () => {
    const { pipe, logger } = open();
    logger.info('first');
    logger.info('second');
    expect(pipe.read()).toBe('');
    await flushLog(logger);
    expect(linesOf(pipe.read()).map((line) => line.msg)).toEqual(['first', 'second']);
  });

  it('writes text of any script byte-exact, in whole writes of at most LOG_WRITE_BYTES', async () => {
    const { pipe, logger } = open();
    // Multi-byte characters make a line's bytes outnumber its characters: sizes are counted in bytes.
    const messages = Array.from({ length: 60 }, (_, i) => `${i} ${'é€🚀'.repeat(30)}`);
    const writes: string[] = [];
    for (const msg of messages) {
      logger.info(msg);
      const written = pipe.read();
      if (written) writes.push(written);
    }
    expect(writes.length).toBeGreaterThan(1);
    for (const written of writes) {
      expect(Buffer.byteLength(written)).toBeLessThanOrEqual(LOG_WRITE_BYTES);
      expect(written.endsWith('\n')).toBe(true);
    }
    await flushLog(logger);
    expect(linesOf(writes.join('') + pipe.read()).map((line) => line.msg)).toEqual(messages);
  });

  it('writes a regular file in batches of LOG_WRITE_BYTES too, so that no line waits long enough to be promoted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gateway-log-'));
    const path = join(dir, 'access.log');
    const log = openBufferedLog(openSync(path, 'w'));
    const logger = pino({ base: undefined, timestamp: false }, log.stream);
    try {
      // ~28 KiB of lines: six whole batches written, the rest waiting for the flush.
      const lines = 128;
      for (let i = 0; i < lines; i++) logger.info('x'.repeat(200));
      const written = readFileSync(path, 'utf8');
      expect(Buffer.byteLength(written)).toBeGreaterThan(lines * 200 - 2 * LOG_WRITE_BYTES);
      expect(written.endsWith('\n')).toBe(true);
      await flushLog(logger);
      expect(linesOf(readFileSync(path, 'utf8'))).toHaveLength(lines);
    } finally {
      await new Promise<void>((resolve) => {
        log.stream.once('close', resolve);
        log.stream.destroy();
      });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives up a flush on a stdout nobody reads after its timeout, and writes the lines once it is read again', async () => {
    const { pipe, logger } = open();
    pipe.fill();
    logger.info('waits');
    await flushLog(logger, 50);
    expect(pipe.read()).not.toContain('waits');
    await flushLog(logger);
    expect(linesOf(pipe.read()).map((line) => line.msg)).toEqual(['waits']);
  });

  it('drops lines past its bound while stdout is full, then counts them in a warning', async () => {
    const { pipe, log, logger } = open();
    let drops = 0;
    log.stream.on('drop', () => drops++);
    pipe.fill();
    const filler = 'x'.repeat(1000);
    while (drops < 3) logger.info(filler);
    let text = '';
    for (let tries = 0; !text.includes('dropped') && tries < 10_000; tries++) {
      text += pipe.read();
      await flushLog(logger, 0);
    }
    text += pipe.read();
    const warnings = linesOf(text).filter((line) => line.level === 40);
    expect(warnings).toEqual([expect.objectContaining({ context: 'Logging', msg: `${drops} log line(s) dropped: stdout did not keep up` })]);
  });

  it('lets lines go nowhere once stdout has no reader (EPIPE), without errors at a flush or at exit', async () => {
    const { pipe, log, logger } = open();
    const errors: string[] = [];
    log.stream.on('error', (error: NodeJS.ErrnoException) => errors.push(String(error.code)));
    pipe.closeReader();
    logger.info('lost');
    await flushLog(logger);
    expect(errors).toEqual(['EPIPE']);
    logger.info('after');
    await flushLog(logger);
    expect(() => log.flushAtExit()).not.toThrow();
    expect(errors).toEqual(['EPIPE']);
  });

  it('writes what waits at exit', () => {
    const { pipe, log, logger } = open();
    logger.info('last words');
    log.flushAtExit();
    expect(linesOf(pipe.read()).map((line) => line.msg)).toEqual(['last words']);
  });

  it('says on stderr that lines were lost when stdout stays full at exit', () => {
    const stderr = new Pipe();
    try {
      const { pipe, log, logger } = open(stderr.writer);
      pipe.fill();
      logger.info('never read');
      log.flushAtExit();
      expect(stderr.read()).toMatch(/^buffered log lines lost at exit: EAGAIN/);
    } finally {
      closeSync(stderr.writer);
      stderr.remove();
    }
  });

  // sonic-boom 4 retried any error but EAGAIN forever in its last write: a gateway whose reader
  // went away while lines waited never exited.
  it('gives up at exit on a stdout whose reader went away while lines waited, and says so on stderr', () => {
    const stderr = new Pipe();
    try {
      const { pipe, log, logger } = open(stderr.writer);
      logger.info('never read');
      pipe.closeReader();
      log.flushAtExit();
      expect(stderr.read()).toMatch(/^buffered log lines lost at exit: EPIPE/);
    } finally {
      closeSync(stderr.writer);
      stderr.remove();
    }
  });

  it('exits quietly when stderr is gone as well', () => {
    const stderr = new Pipe();
    stderr.closeReader();
    try {
      const { pipe, log, logger } = open(stderr.writer);
      pipe.fill();
      logger.info('never read');
      expect(() => log.flushAtExit()).not.toThrow();
    } finally {
      closeSync(stderr.writer);
      stderr.remove();
    }
  });
});
