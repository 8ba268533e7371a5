/**
 * A whole pass end to end: config, inputs, lock, ledger, rendering, MIME and SMTP delivery to a
 * real smtp-server on 127.0.0.1, for BENCH_DELIVERY_RECIPIENTS readers (default 3,000).
 * Prints throughput and memory; compare ratios between runs on the same machine.
 */
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { loadConfig } from '../src/config/load.js';
import { executeRun } from '../src/run/execute.js';

const N = Number(process.env.BENCH_DELIVERY_RECIPIENTS ?? 3_000);
const root = process.cwd();
let received = 0;
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  onData(stream, _session, callback) {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      received++;
      callback();
    });
  },
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.server.address() as AddressInfo).port;

const dir = await mkdtemp(join(tmpdir(), 'dm-bench-'));
await cp(join(root, 'digests'), join(dir, 'digests'), { recursive: true });
const config = JSON.parse(await readFile(join(root, 'digest-mailer.config.json'), 'utf8'));
config.paths = { digests: 'digests', subscribers: 'subscribers.json', topics: join(root, 'topics.json'), templates: join(root, 'templates'), state: 'state', outbox: 'outbox' };
config.transport = { type: 'smtp', host: '127.0.0.1', port, secure: false, requireTLS: false, maxConnections: 4 };
config.delivery = { ratePerSecond: 1000, concurrency: 8, maxAttempts: 3, retryBaseDelayMs: 10, maxRetryDelayMs: 100 };
await writeFile(join(dir, 'config.json'), JSON.stringify(config));
const topics = ['', 'video', 'reasoning', 'multilingual', 'benchmarks', 'trust-safety'];
await writeFile(
  join(dir, 'subscribers.json'),
  JSON.stringify({ subscribers: Array.from({ length: N }, (_, i) => ({ email: `reader${i}@example.org`, name: `Reader ${i}`, topics: topics[i % topics.length] ? [topics[i % topics.length]] : [] })) }),
);

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
const links = { baseUrl: config.baseUrl, secret: 'bench-secret-bench-secret-bench-secret', ttlDays: 365 };
const started = performance.now();
const summary = await executeRun(await loadConfig(join(dir, 'config.json')), { dryRun: false, backfill: false }, { links: () => links, command: 'bench' });
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
server.close();

const sent = summary.sections.reduce((n, s) => n + (s.counts?.sent ?? 0), 0);
const variants = summary.sections.reduce((n, s) => n + s.variants, 0);
console.log(`delivery: ${N} subscribers, section ${summary.sections.find((s) => s.action === 'send')?.date}, ${variants} variants`);
console.log(`sent ${sent} (the SMTP server received ${received}) in ${seconds.toFixed(1)} s = ${(sent / seconds).toFixed(0)} messages/s through one process`);
console.log(`peak RSS ${(peakRss / 1e6).toFixed(0)} MB`);
