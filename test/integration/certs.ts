import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificates {
  dir: string;
  /** PEM paths. */
  caFile: string;
  keyFile: string;
  certFile: string;
  key: string;
  cert: string;
  /** The name in the server certificate (also valid for IP 127.0.0.1). */
  serverName: string;
}

/** A throw-away CA and a server certificate it signed (openssl), for STARTTLS on loopback. */
export async function makeTestCertificates(serverName = 'mail.digest.test'): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'dm-certs-'));
  const p = (name: string) => join(dir, name);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=digest-mailer test CA']);
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', `/CN=${serverName}`]);
  await writeFile(p('san.ext'), `subjectAltName=DNS:${serverName},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', ['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('server.pem'), '-days', '2', '-extfile', p('san.ext')]);
  return {
    dir,
    caFile: p('ca.pem'),
    keyFile: p('server.key'),
    certFile: p('server.pem'),
    key: await readFile(p('server.key'), 'utf8'),
    cert: await readFile(p('server.pem'), 'utf8'),
    serverName,
  };
}
