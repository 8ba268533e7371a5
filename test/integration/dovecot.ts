import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scaled } from '../timeouts.js';

export const DOVECOT = '/usr/sbin/dovecot';

/** Debian's dovecot-core is installed (by .ci/run) and we may start a private instance (root). */
export function dovecotAvailable(): string | null {
  if (!existsSync(DOVECOT)) return 'Dovecot is not installed (.ci/run installs dovecot-core)';
  if (process.getuid?.() !== 0) return 'starting a Dovecot instance needs root';
  return null;
}

export interface DovecotAuth {
  /** The UNIX socket Postfix's smtpd talks SASL to (smtpd_sasl_type = dovecot). */
  socket: string;
  /** Replaces the password of a user (what an operator does when rotating it). */
  setPassword(user: string, password: string): Promise<void>;
  log(): Promise<string>;
  destroy(): Promise<void>;
}

function listening(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/**
 * A private Dovecot that only authenticates (no IMAP/POP listeners): its own base_dir, state,
 * log and passwd-file under a temp folder, one auth socket for Postfix. The system instance
 * is not touched. Passwords are read from the file on each login, so they can be changed live.
 */
export async function startDovecotAuth(users: Record<string, string>): Promise<DovecotAuth> {
  const dir = await mkdtemp(join(tmpdir(), 'dm-dovecot-'));
  await chmod(dir, 0o755); // Postfix's smtpd (as postfix) reaches the socket in here
  await Promise.all([mkdir(join(dir, 'run')), mkdir(join(dir, 'state'))]);
  const socket = join(dir, 'auth-postfix');
  const passwd = join(dir, 'users');
  const logFile = join(dir, 'dovecot.log');
  const writeUsers = (all: Record<string, string>) => writeFile(passwd, Object.entries(all).map(([u, p]) => `${u}:{PLAIN}${p}\n`).join(''));
  await writeUsers(users);
  const conf = join(dir, 'dovecot.conf');
  await writeFile(
    conf,
    `base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = dm-test-${process.pid}
protocols =
log_path = ${logFile}
auth_verbose = yes
ssl = no
# Postfix tells Dovecot whether the session is TLS-protected; smtpd_tls_auth_only there
# already keeps AUTH behind STARTTLS.
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${passwd}
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener ${socket} {
    mode = 0666
  }
}
`,
  );
  const child: ChildProcess = spawn(DOVECOT, ['-F', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const log = () => readFile(logFile, 'utf8').catch(() => '');
  const deadline = Date.now() + scaled(20_000);
  while (!(await listening(socket))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Dovecot did not start:\n${stderr}\n${(await log()).slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const current = { ...users };
  return {
    socket,
    async setPassword(user, password) {
      current[user] = password;
      await writeUsers(current);
    },
    log,
    async destroy() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
