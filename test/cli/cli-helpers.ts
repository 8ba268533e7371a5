import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { scaled } from '../timeouts.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `digest-mailer` binary in a child process. */
export function cli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin/digest-mailer.js'), '--config', join(cwd, 'config.json'), ...args],
      { cwd, env: { ...process.env, DIGEST_MAILER_SECRET: '', ...env }, timeout: scaled(90_000) },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** A throw-away project: the seed digest and example subscribers, with the repo's topics and templates. */
export async function makeProject(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dm-cli-'));
  await mkdir(join(dir, 'digests'));
  await cp(join(ROOT, 'digests/2025-11.md'), join(dir, 'digests/2025-11.md'));
  await cp(join(ROOT, 'subscribers.example.json'), join(dir, 'subscribers.json'));
  const config = JSON.parse(await readFile(join(ROOT, 'digest-mailer.config.json'), 'utf8'));
  // Real transports refuse to send without one (CAN-SPAM); tests configure smtp and ses.
  config.list.postalAddress = 'Digest Lab, 1 Example Street, 10115 Berlin, Germany';
  config.paths = {
    digests: 'digests',
    subscribers: 'subscribers.json',
    topics: join(ROOT, 'topics.json'),
    templates: join(ROOT, 'templates'),
    state: 'state',
    outbox: 'outbox',
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

export const EXTRA_SECTION = (date: string, from: string) => `
## ${date}

*Date Range: [${from}, ${date})*

### A Multilingual Benchmark for Video Question Answering in Swahili

**Authors:** Amina Njeri, Ana López

**Link:** https://arxiv.org/pdf/${date.slice(2, 4)}${date.slice(5, 7)}.9${date.slice(8, 10)}01

**Motivation:**

Video QA benchmarks ignore low-resource languages.

**Method:**

We build a multilingual video benchmark with native speakers.

**Abstract:**

We evaluate video models on Swahili and find large gaps.
`;

/** 32 random bytes (base64url): weak-looking secrets are refused. */
export const TEST_SECRET = 'GTtx4Fxiw-XW8QMt-3peYG92aD0muQzNAC_TTF6YWO0';

/** Merges settings into the project's config.json (shallow per top-level key). */
export async function configure(dir: string, patch: Record<string, unknown>): Promise<void> {
  const file = join(dir, 'config.json');
  const config = JSON.parse(await readFile(file, 'utf8'));
  for (const [key, value] of Object.entries(patch)) config[key] = value;
  await writeFile(file, JSON.stringify(config, null, 2));
}

/** Like configure(), keeping the store settings a test engine wrote (configure() replaces whole top-level keys). */
export async function configureKeepingStore(dir: string, patch: Record<string, unknown>): Promise<void> {
  const current = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  await configure(dir, { ...patch, ...(current.store ? { store: current.store } : {}) });
}

/** Fast retries for tests; production defaults are seconds. */
export const FAST_DELIVERY = { ratePerSecond: 500, concurrency: 4, maxAttempts: 4, retryBaseDelayMs: 20, maxRetryDelayMs: 100 };

export function smtpTransport(port: number, extra: Record<string, unknown> = {}) {
  return { type: 'smtp', host: '127.0.0.1', port, secure: false, requireTLS: false, maxConnections: 2, timeoutMs: 10_000, ...extra };
}

/** A subscribers file of `count` all-topics readers, reader0@example.org ... */
export async function writeReaders(dir: string, count: number): Promise<string[]> {
  const emails = Array.from({ length: count }, (_, i) => `reader${i}@example.org`);
  await writeFile(join(dir, 'subscribers.json'), JSON.stringify({ subscribers: emails.map((email) => ({ email, name: `Reader ${email.slice(6, -12)}` })) }));
  return emails;
}

/** Starts the CLI without waiting, for tests that signal or kill it part way. */
export function spawnCli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [join(ROOT, 'bin/digest-mailer.js'), '--config', join(cwd, 'config.json'), ...args], {
    cwd,
    env: { ...process.env, DIGEST_MAILER_SECRET: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, output: () => ({ stdout, stderr }) };
}

/** Polls until `condition` holds, failing after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + scaled(timeoutMs);
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Replaces the digest with one small section (fast to compose for thousands of readers). */
export async function useSmallDigest(dir: string): Promise<void> {
  await writeFile(join(dir, 'digests/2025-11.md'), EXTRA_SECTION('2025-11-14', '2025-11-13'));
}

/** Active subscribers of subscribers.example.json whose preferences match a 2025-11-13 paper. */
export const RECIPIENTS_2025_11_13 = [
  'ana.lopez@example.org',
  'fatima.zahra@example.org',
  'jonas.weber@example.com',
  'priya.raman@example.org',
  'reader@example.com',
  'sofia.rossi@example.org',
];
