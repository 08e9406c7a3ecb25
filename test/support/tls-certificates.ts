import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** File paths of one run's upstream PKI: a CA, a server certificate it signed, a client one. */
export interface UpstreamCertificates {
  dir: string;
  /** The CA that signed the server and client certificates. */
  ca: string;
  /** Another CA, that signed nothing here: a target's certificate does not chain to it. */
  otherCa: string;
  /** For 127.0.0.1 and `serverName`. */
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  serverName: string;
  remove(): void;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** Makes a self-signed CA `name` (`name.crt`, `name.key`) in `dir`. */
function makeCa(dir: string, name: string): void {
  openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
}

/** Makes `name.crt`/`name.key`, signed by `ca`, with `extensions` (an openssl extension section). */
function makeSigned(dir: string, ca: string, name: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
}

/** Generates this run's certificates with the `openssl` CLI into a temporary directory. */
export function createUpstreamCertificates(serverName = 'svc.internal'): UpstreamCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'gw-upstream-tls-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  makeSigned(dir, 'ca', 'server', `subjectAltName=IP:127.0.0.1,DNS:${serverName}\nextendedKeyUsage=serverAuth\n`);
  makeSigned(dir, 'ca', 'client', 'extendedKeyUsage=clientAuth\n');
  const at = (file: string) => join(dir, file);
  return {
    dir,
    ca: at('ca.crt'),
    otherCa: at('other-ca.crt'),
    serverCert: at('server.crt'),
    serverKey: at('server.key'),
    clientCert: at('client.crt'),
    clientKey: at('client.key'),
    serverName,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
