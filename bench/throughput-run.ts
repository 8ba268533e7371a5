/** One list size of bench/throughput.ts (run in its own process, so peak RSS is this size's). */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import nodemailer from 'nodemailer';
import { matcherFor, preferenceKey } from '../src/audience/select.js';
import { loadConfig } from '../src/config/load.js';
import { parseDigest } from '../src/digest/parse.js';
import { renderEmail } from '../src/render/render.js';
import { compileTemplates, readTemplateSources } from '../src/render/templates.js';
import { variantKey } from '../src/render/render.js';
import { renderSettings } from '../src/run/context.js';
import { composeFor } from '../src/run/deliver.js';
import { executeRun } from '../src/run/execute.js';
import { classifyPaper, compileTaxonomy } from '../src/topics/classify.js';
import { parseTaxonomy } from '../src/topics/load.js';
import { generateSubscribers } from './population.js';

const N = Number(process.argv[2] ?? 10_000);
const LIMIT_MESSAGES = Math.min(N, 20_000);
const SECTION = '2025-11-12';
const root = process.cwd();
const POOL = { maxConnections: 5, maxMessages: 1000 };

// Peak RSS over the whole process: sampled, plus the kernel's high-water mark at the end.
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);

const sink: ChildProcess = fork(join(root, 'bench/sink.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const port = await new Promise<number>((resolve) => sink.once('message', (m: { port: number }) => resolve(m.port)));
const received = () => new Promise<number>((resolve) => {
  sink.once('message', (m: { received: number }) => resolve(m.received));
  sink.send({ count: true });
});

// A project with only the largest section (the newest, so a first run sends it).
const dir = await mkdtemp(join(tmpdir(), 'dm-bench-'));
const seed = await readFile(join(root, 'digests/2025-11.md'), 'utf8');
const cut = seed.indexOf('\n## 2025-11-13');
await mkdir(join(dir, 'digests'));
await writeFile(join(dir, 'digests/2025-11.md'), cut > 0 ? seed.slice(0, cut) : seed);
const section = parseDigest(seed, 'digests/2025-11.md').sections.find((s) => s.date === SECTION)!;
const taxonomyFile = JSON.parse(await readFile(join(root, 'topics.json'), 'utf8'));
const taxonomy = parseTaxonomy(taxonomyFile, 'topics.json');
const subscribers = generateSubscribers(N, { topicIds: taxonomy.topics.map((t) => t.id), sections: [section] }, 2025);
await writeFile(join(dir, 'subscribers.json'), JSON.stringify({ subscribers }));

const config = JSON.parse(await readFile(join(root, 'digest-mailer.config.json'), 'utf8'));
config.paths = { digests: 'digests', subscribers: 'subscribers.json', topics: join(root, 'topics.json'), templates: join(root, 'templates'), state: 'state', outbox: 'outbox' };
config.list.postalAddress = 'Digest Lab, 1 Example Street, 10115 Berlin, Germany';
config.transport = { type: 'smtp', host: '127.0.0.1', port, secure: false, requireTLS: false, maxConnections: POOL.maxConnections, maxMessagesPerConnection: POOL.maxMessages };
config.delivery = { ...(config.delivery ?? {}), ratePerSecond: 1_000_000, concurrency: 32, maxAttempts: 3, retryBaseDelayMs: 10, maxRetryDelayMs: 100 };
await writeFile(join(dir, 'config.json'), JSON.stringify(config));
const loaded = await loadConfig(join(dir, 'config.json'));
const links = { baseUrl: loaded.baseUrl, secret: 'bench-secret-bench-secret-bench-secret', ttlDays: 365 };

// Distinct paper sets of this list, counted independently of the run.
const compiled = compileTaxonomy(taxonomy);
const papers = section.papers.map((p) => classifyPaper(p, compiled));
const selections = new Map<string, ReturnType<ReturnType<typeof matcherFor>['select']>>();
const paperSets = new Set<string>();
let recipients = 0;
for (const s of subscribers) {
  const key = preferenceKey(s);
  if (!selections.has(key)) selections.set(key, matcherFor(s).select(papers));
  const selected = selections.get(key)!;
  if (!selected.length) continue;
  recipients++;
  paperSets.add(variantKey(selected, s.format));
}

const rssAfterSetup = process.memoryUsage().rss;
// 1. The limit: prebuilt messages (those of the first 200 recipients), a plain nodemailer pool.
const templates = compileTemplates(await readTemplateSources(join(root, 'templates')));
const prebuilt: Buffer[] = [];
for (const s of subscribers) {
  if (prebuilt.length >= 200) break;
  const selected = selections.get(preferenceKey(s))!;
  if (!selected.length) continue;
  const rendered = await renderEmail(templates, join(root, 'templates'), section, selected, renderSettings(loaded, taxonomy), s.format);
  prebuilt.push((await composeFor(loaded, rendered, section, s, links, new Date())).raw);
}
const pool = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, ...POOL });
const limitStart = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: 32 }, async () => {
    while (next < LIMIT_MESSAGES) {
      const i = next++;
      await pool.sendMail({ envelope: { from: 'digest@example.org', to: `reader${i}@example.org` }, raw: prebuilt[i % prebuilt.length]! });
    }
  }),
);
const limitRate = LIMIT_MESSAGES / ((performance.now() - limitStart) / 1000);
pool.close();

const rssAfterLimit = process.memoryUsage().rss;
// 2. A whole pass.
const before = await received();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const summary = await executeRun(loaded, { dryRun: false, backfill: false }, { links: () => links, command: 'bench' });
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
clearInterval(sampler);
const got = (await received()) - before;
sink.send({ stop: true });
await rm(dir, { recursive: true, force: true });

const result = summary.sections.find((s) => s.date === SECTION);
const sent = result?.counts?.sent ?? 0;
const rate = sent / seconds;
const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
console.log(`throughput at ${N.toLocaleString('en')} subscribers (section ${SECTION}, ${section.papers.length} papers, ${recipients.toLocaleString('en')} recipients):`);
console.log(`  limit (plain nodemailer pool, prebuilt messages, ${LIMIT_MESSAGES.toLocaleString('en')} sends): ${limitRate.toFixed(0)} msg/s`);
console.log(`  digest-mailer whole pass: sent ${sent.toLocaleString('en')} (sink got ${got.toLocaleString('en')}) in ${seconds.toFixed(1)} s = ${rate.toFixed(0)} msg/s, ratio to the limit ${(rate / limitRate).toFixed(2)}`);
console.log(`  CPU ${((cpu.user + cpu.system) / 1000 / Math.max(sent, 1)).toFixed(2)} ms per message (this process), peak RSS ${mb(Math.max(peakRss, process.resourceUsage().maxRSS * 1024))}`);
console.log(`  RSS after setup ${mb(rssAfterSetup)}, after the limit ${mb(rssAfterLimit)}, at the end ${mb(process.memoryUsage().rss)}`);
console.log(`  compiles (variant renders) ${result?.renders ?? '?'} for ${paperSets.size} distinct paper sets (${result?.variants ?? '?'} seen by the run)`);
