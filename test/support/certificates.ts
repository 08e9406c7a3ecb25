import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate issued by the test CA, its key, and where both are on disk. */
export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
  /** SHA-256 fingerprint, as `X509Certificate#fingerprint256` and `getPeerCertificate().fingerprint256` spell it. */
  fingerprint: string;
}

export interface TestCa {
  dir: string;
  caFile: string;
  ca: string;
  /** A new server certificate for `commonName` with an IP SAN of 127.0.0.1 (and DNS `localhost`). */
  issue(name: string, commonName?: string): IssuedCertificate;
  /** A private key that belongs to no certificate. */
  strayKey(name: string): string;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });

/** Generates a CA in a new temporary directory with the `openssl` CLI: one per test file run, never checked in. */
export function createTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'gw-tls-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=nest-gateway test CA'], dir);
  const caFile = join(dir, 'ca.crt');
  let serial = 0;
  return {
    dir,
    caFile,
    ca: readFileSync(caFile, 'utf8'),
    issue(name, commonName = '127.0.0.1') {
      const keyFile = join(dir, `${name}.key`);
      const certFile = join(dir, `${name}.crt`);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', `${name}.csr`, '-subj', `/CN=${commonName}`], dir);
      writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(++serial + Date.now()), '-days', '2', '-extfile', `${name}.ext`, '-out', certFile], dir);
      const cert = readFileSync(certFile, 'utf8');
      return { certFile, keyFile, cert, key: readFileSync(keyFile, 'utf8'), fingerprint: new X509Certificate(cert).fingerprint256 };
    },
    strayKey(name) {
      const keyFile = join(dir, `${name}.key`);
      openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile], dir);
      return keyFile;
    },
  };
}
