import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync, watch as watchDirectory } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { LoggerService } from '@nestjs/common';
import type { ServerTlsOptions } from '../config/gateway-options.interface.js';
import { StartupError } from './environment.js';

/** certbot and editors write a pair in several steps: one look once they are done. */
const CERTIFICATE_SETTLE_MS = 300;
/** First wait before a pair found unreadable or mismatched is read again; doubled up to the max. */
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30_000;

/** A certificate chain and its private key, as PEM text. */
export interface CertificatePair {
  cert: string;
  key: string;
}

/** What is wrong with a pair, naming the field at fault; undefined when the key signs for the certificate. */
function pairFault(pair: CertificatePair, files: ServerTlsOptions): string | undefined {
  let certificate: X509Certificate;
  let key: KeyObject;
  try {
    certificate = new X509Certificate(pair.cert);
  } catch {
    return `server.tls.cert: '${files.cert}' holds no PEM certificate`;
  }
  try {
    key = createPrivateKey(pair.key);
  } catch {
    return `server.tls.key: '${files.key}' holds no PEM private key`;
  }
  if (!certificate.checkPrivateKey(key)) return `server.tls: the key in '${files.key}' does not match the certificate in '${files.cert}'`;
  return undefined;
}

function readField(files: ServerTlsOptions, field: 'cert' | 'key'): string {
  try {
    return readFileSync(files[field], 'utf8');
  } catch (error) {
    throw new StartupError(`server.tls.${field}: cannot read '${files[field]}' (${(error as NodeJS.ErrnoException).code})`);
  }
}

/** Reads the pair at start-up; an unreadable file or a key of another certificate is a `StartupError`. */
export function readCertificatePair(files: ServerTlsOptions): CertificatePair {
  const pair = { cert: readField(files, 'cert'), key: readField(files, 'key') };
  const fault = pairFault(pair, files);
  if (fault) throw new StartupError(fault);
  return pair;
}

/** The certificate's SHA-256 fingerprint and end of validity, for the log. */
function describe(pair: CertificatePair): string {
  const certificate = new X509Certificate(pair.cert);
  return `SHA-256 ${certificate.fingerprint256}, valid to ${certificate.validTo}`;
}

/**
 * Hands `apply` the pair again whenever the files change or the process gets SIGHUP. The
 * directories are watched, not the files: certbot and Kubernetes secrets replace a file by a
 * rename (a secret swaps a `..data` symlink), which a watch on the old file never sees. A pair
 * that cannot be read, or whose key is not the certificate's (one file written, the other not
 * yet), is not applied: the running pair stays, and the files are read again, later and later,
 * until they agree or change again. Returns a function that stops watching.
 */
export function watchCertificates(
  files: ServerTlsOptions,
  running: CertificatePair,
  apply: (pair: CertificatePair) => void,
  logger: LoggerService,
): () => void {
  let current = running;
  let settle: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  let retryMs = RETRY_FIRST_MS;
  /** The fault last logged: a pair that stays wrong is reported once, not at every retry. */
  let reported: string | undefined;

  const check = async (): Promise<void> => {
    clearTimeout(retry);
    let fault: string | undefined;
    let pair: CertificatePair | undefined;
    try {
      pair = { cert: await readFile(files.cert, 'utf8'), key: await readFile(files.key, 'utf8') };
      if (pair.cert === current.cert && pair.key === current.key) {
        reported = undefined;
        retryMs = RETRY_FIRST_MS;
        return;
      }
      fault = pairFault(pair, files);
    } catch (error) {
      fault = `server.tls: cannot read the pair (${(error as NodeJS.ErrnoException).code})`;
    }
    if (fault) {
      if (fault !== reported) logger.warn(`TLS certificate not reloaded, the running one stays: ${fault}; reading it again in ${retryMs} ms`);
      reported = fault;
      retry = setTimeout(() => void check(), retryMs).unref();
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      return;
    }
    try {
      apply(pair!);
    } catch (error) {
      logger.error(`TLS certificate not reloaded, the running one stays: ${(error as Error).message}`);
      return;
    }
    current = pair!;
    reported = undefined;
    retryMs = RETRY_FIRST_MS;
    logger.log(`TLS certificate reloaded from ${files.cert} (${describe(pair!)}): new handshakes get it`);
  };

  const soon = () => {
    clearTimeout(settle);
    settle = setTimeout(() => void check(), CERTIFICATE_SETTLE_MS).unref();
  };
  const watchers = [...new Set([dirname(files.cert), dirname(files.key)])].map((directory) => {
    const watcher = watchDirectory(directory, soon);
    watcher.on('error', (error) => logger.warn(`TLS certificate directory ${directory} no longer watched (${error.message}); SIGHUP still reloads`));
    return watcher.unref();
  });
  process.on('SIGHUP', soon);
  return () => {
    process.off('SIGHUP', soon);
    clearTimeout(settle);
    clearTimeout(retry);
    for (const watcher of watchers) watcher.close();
  };
}
