import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { scaled } from '../timeouts.js';

const run = promisify(execFile);
export const POSTFIX = '/usr/sbin/postfix';

/** Debian's Postfix is installed (by .ci/run) and we may start a private instance (root). */
export function postfixAvailable(): string | null {
  if (!existsSync(POSTFIX)) return 'Postfix is not installed (.ci/run installs it)';
  if (process.getuid?.() !== 0) return 'starting a Postfix instance needs root';
  return null;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function idOf(flag: '-u' | '-g', name: string): Promise<number> {
  return Number((await run('id', [flag, name])).stdout.trim());
}

export interface PostfixInstance {
  port: number;
  /** With `sasl`: a submission port that needs AUTH (through Dovecot) over STARTTLS to relay. */
  submissionPort: number | null;
  dir: string;
  /** Sets main.cf parameters (postconf -e) and reloads; new sessions see them. */
  configure(settings: Record<string, string>): Promise<void>;
  /** Recipients (Delivered-To) of every message in the catch-all Maildir. */
  delivered(): Promise<string[]>;
  /** The bytes of every message in the catch-all Maildir, as Postfix stored them. */
  messages(): Promise<Buffer[]>;
  /** Waits until nothing is queued (every accepted message delivered or bounced). */
  drained(timeoutMs?: number): Promise<void>;
  clearMaildir(): Promise<void>;
  log(): Promise<string>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the instance and removes its folder. */
  destroy(): Promise<void>;
}

/**
 * A private Postfix instance on 127.0.0.1:<free port>: its own config_directory, queue, data
 * directory, log file and one catch-all Maildir (virtual delivery for every domain), all under
 * a temp folder. STARTTLS with the given certificate. The system instance is not touched.
 */
export async function startPostfix(tls: { certFile: string; keyFile: string }, options: { sasl?: { socket: string } } = {}): Promise<PostfixInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'dm-postfix-'));
  await chmod(dir, 0o755); // the virtual delivery agent (as postfix) walks into mail/
  const etc = join(dir, 'etc');
  const mail = join(dir, 'mail');
  const data = join(dir, 'data');
  await Promise.all([mkdir(etc), mkdir(mail), mkdir(data), mkdir(join(dir, 'queue'))]);
  const uid = await idOf('-u', 'postfix');
  const gid = await idOf('-g', 'postfix');
  await chown(mail, uid, gid);
  await chown(data, uid, gid);
  const port = await freePort();
  const submissionPort = options.sasl ? await freePort() : null;
  await writeFile(join(etc, 'domains'), '/.*/ OK\n');
  await writeFile(join(etc, 'mailboxes'), '/.*/ catchall/\n');
  await writeFile(join(etc, 'senders'), '/^refused-sender@/ REJECT Sender address rejected: not owned by this relay\n');
  await writeFile(
    join(etc, 'main.cf'),
    [
      'compatibility_level = 3.6',
      `queue_directory = ${dir}/queue`,
      `data_directory = ${data}`,
      'mail_owner = postfix',
      'myhostname = mta.digest.test',
      'mydomain = digest.test',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'mydestination =',
      'mynetworks = 127.0.0.0/8',
      'relayhost =',
      'alias_maps =',
      'alias_database =',
      `maillog_file_prefixes = ${tmpdir()}`,
      `maillog_file = ${dir}/maillog`,
      `virtual_mailbox_domains = regexp:${etc}/domains`,
      `virtual_mailbox_maps = regexp:${etc}/mailboxes`,
      `virtual_mailbox_base = ${mail}`,
      `virtual_uid_maps = static:${uid}`,
      `virtual_gid_maps = static:${gid}`,
      `smtpd_tls_cert_file = ${tls.certFile}`,
      `smtpd_tls_key_file = ${tls.keyFile}`,
      'smtpd_tls_security_level = may',
      `smtpd_sender_restrictions = check_sender_access regexp:${etc}/senders`,
      'smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination',
      // Rate limits apply to loopback too (by default mynetworks is exempt).
      'smtpd_client_event_limit_exceptions =',
      'anvil_rate_time_unit = 60s',
      // Strict: the options an operator would turn on.
      'smtpd_helo_required = yes',
      'strict_rfc821_envelopes = yes',
      'smtpd_reject_unlisted_sender = yes',
      '',
    ].join('\n'),
  );
  // The submission service: AUTH through Dovecot's socket, only after STARTTLS, and no relay
  // without it (loopback is not trusted there). The plain port offers no AUTH at all.
  const submission = options.sasl
    ? [
        `127.0.0.1:${submissionPort} inet n - n - - smtpd`,
        '  -o smtpd_tls_security_level=encrypt',
        '  -o smtpd_sasl_auth_enable=yes',
        '  -o smtpd_sasl_type=dovecot',
        `  -o smtpd_sasl_path=${options.sasl.socket}`,
        '  -o smtpd_tls_auth_only=yes',
        '  -o mynetworks=',
        '  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject',
      ]
    : [];
  const services = [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    ...submission,
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'tlsmgr unix - - n 1000? 1 tlsmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'smtp unix - - n - - smtp',
    'relay unix - - n - - smtp',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'virtual unix - n n - - virtual',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  await writeFile(join(etc, 'master.cf'), `${services.join('\n')}\n`);

  const postfix = (...args: string[]) => run(POSTFIX, ['-c', etc, ...args]);
  const log = () => readFile(join(dir, 'maillog'), 'utf8').catch(() => '');
  const waitForPort = async (open: boolean) => {
    const deadline = Date.now() + scaled(30_000);
    for (;;) {
      const listening = await accepts(port);
      if (listening === open) return;
      if (Date.now() > deadline) throw new Error(`Postfix did not ${open ? 'start' : 'stop'} on port ${port}:\n${(await log()).slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const queued = async () => {
    let count = 0;
    for (const sub of ['maildrop', 'incoming', 'active', 'deferred']) {
      const walk = async (d: string): Promise<void> => {
        for (const entry of await readdir(d, { withFileTypes: true }).catch(() => [])) {
          if (entry.isDirectory()) await walk(join(d, entry.name));
          else count++;
        }
      };
      await walk(join(dir, 'queue', sub));
    }
    return count;
  };
  const maildir = join(mail, 'catchall');

  const instance: PostfixInstance = {
    port,
    submissionPort,
    dir,
    async configure(settings) {
      const reloads = async () => ((await log()).match(/reload -- version/g) ?? []).length;
      const before = await reloads();
      await run('postconf', ['-c', etc, '-e', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
      await postfix('reload');
      // reload is asynchronous: wait until the master has logged it.
      const deadline = Date.now() + scaled(15_000);
      while ((await reloads()) <= before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    },
    async delivered() {
      const files = await readdir(join(maildir, 'new')).catch(() => [] as string[]);
      const recipients: string[] = [];
      for (const file of files) {
        const text = await readFile(join(maildir, 'new', file), 'utf8');
        recipients.push(text.match(/^Delivered-To: (.+)$/im)![1]!.trim().toLowerCase());
      }
      return recipients.sort();
    },
    async drained(timeoutMs = scaled(30_000)) {
      const deadline = Date.now() + timeoutMs;
      while ((await queued()) > 0) {
        if (Date.now() > deadline) throw new Error('Postfix queue did not drain');
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async messages() {
      const files = await readdir(join(maildir, 'new')).catch(() => [] as string[]);
      return Promise.all(files.sort().map((file) => readFile(join(maildir, 'new', file))));
    },
    async clearMaildir() {
      const files = await readdir(join(maildir, 'new')).catch(() => [] as string[]);
      await Promise.all(files.map((f) => rm(join(maildir, 'new', f), { force: true })));
    },
    log,
    async start() {
      await postfix('check');
      await postfix('start');
      await waitForPort(true);
    },
    async stop() {
      await postfix('stop').catch(() => undefined);
      await waitForPort(false);
    },
    async destroy() {
      await instance.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await instance.start();
  return instance;
}
