/**
 * One list size of bench/throughput.ts. Sets up a project (the largest seed section, a seeded
 * realistic list imported into the store beforehand), then runs, each in its own process, an
 * smtp-server sink, the limit (a plain nodemailer pool of prebuilt messages) before and after,
 * and the whole pass between them, so the pass's CPU and peak RSS are its own.
 * BENCH_PROFILE=dir writes a CPU profile of the pass there.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { matcherFor, preferenceKey, type SelectedPaper } from '../src/audience/select.js';
import { loadConfig } from '../src/config/load.js';
import { parseDigest } from '../src/digest/parse.js';
import { renderEmail, variantKey } from '../src/render/render.js';
import { compileTemplates, readTemplateSources } from '../src/render/templates.js';
import { renderSettings } from '../src/run/context.js';
import { composeFor } from '../src/run/deliver.js';
import { markSubscribersFileImported } from '../src/store/bootstrap.js';
import { openStore } from '../src/store/open.js';
import { classifyPaper, compileTaxonomy } from '../src/topics/classify.js';
import { loadTaxonomy } from '../src/topics/load.js';
import { generateSubscribers } from './population.js';
import { NODE_FLAGS } from '../src/node-support.js';
import { BENCH_POOL } from './throughput-settings.js';

const N = Number(process.argv[2] ?? 10_000);
const LIMIT_MESSAGES = Math.min(N, 20_000);
const SECTION = '2025-11-12';
const root = process.cwd();
const tsx = { execArgv: ['--import', 'tsx'] };

function child<T>(script: string, args: string[], execArgv: string[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    // The pass (a .js file) runs as the command does, without tsx; the other helpers are TypeScript.
    const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
    const proc = fork(join(root, script), args, { execArgv: [...execArgv, ...loader], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: T | undefined;
    proc.once('message', (m: T) => (result = m));
    proc.once('exit', (code) => (code === 0 && result !== undefined ? resolve(result) : reject(new Error(`${script} exited with ${code}`))));
  });
}

// A project with only the largest section (the newest, so a first run sends it).
const dir = await mkdtemp(join(tmpdir(), 'dm-bench-'));
const seed = await readFile(join(root, 'digests/2025-11.md'), 'utf8');
const cut = seed.indexOf('\n## 2025-11-13');
await mkdir(join(dir, 'digests'));
await writeFile(join(dir, 'digests/2025-11.md'), cut > 0 ? seed.slice(0, cut) : seed);
const section = parseDigest(seed, 'digests/2025-11.md').sections.find((s) => s.date === SECTION)!;
const taxonomy = await loadTaxonomy(join(root, 'topics.json'));

const sink: ChildProcess = fork(join(root, 'bench/sink.ts'), [], { ...tsx, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const port = await new Promise<number>((resolve) => sink.once('message', (m: { port: number }) => resolve(m.port)));
const received = () =>
  new Promise<number>((resolve) => {
    sink.once('message', (m: { received: number }) => resolve(m.received));
    sink.send({ count: true });
  });

const config = JSON.parse(await readFile(join(root, 'digest-mailer.config.json'), 'utf8'));
config.paths = { digests: 'digests', subscribers: 'subscribers.json', topics: join(root, 'topics.json'), templates: join(root, 'templates'), state: 'state', outbox: 'outbox' };
config.list.postalAddress = 'Digest Lab, 1 Example Street, 10115 Berlin, Germany';
config.transport = { type: 'smtp', host: '127.0.0.1', port, secure: false, requireTLS: false, maxConnections: BENCH_POOL.maxConnections, maxMessagesPerConnection: BENCH_POOL.maxMessages };
config.delivery = { ...(config.delivery ?? {}), ratePerSecond: 1_000_000, concurrency: BENCH_POOL.concurrency, maxAttempts: 3, retryBaseDelayMs: 10, maxRetryDelayMs: 100 };
// BENCH_COMPOSE_THREADS=n: delivery.composeThreads for the pass (default: the config's own).
if (process.env.BENCH_COMPOSE_THREADS !== undefined) config.delivery.composeThreads = Number(process.env.BENCH_COMPOSE_THREADS);
await writeFile(join(dir, 'config.json'), JSON.stringify(config));
const loaded = await loadConfig(join(dir, 'config.json'));
const links = { baseUrl: loaded.baseUrl, secret: 'bench-secret-bench-secret-bench-secret', ttlDays: 365 };

// The list, imported into the store before the pass (a run streams it from there in pages).
const subscribers = generateSubscribers(N, { topicIds: taxonomy.topics.map((t) => t.id), sections: [section] }, 2025);
{
  const store = await openStore(loaded);
  for (let i = 0; i < subscribers.length; i += 5000) {
    await store.importSubscribers(subscribers.slice(i, i + 5000).map((subscriber) => ({ subscriber, history: [] })), 'bench');
  }
  await markSubscribersFileImported(store);
  await store.close();
}

// Distinct paper sets of this list, counted independently of the run (same taxonomy and model).
const papers = section.papers.map((p) => classifyPaper(p, compileTaxonomy(taxonomy)));
const selections = new Map<string, SelectedPaper[]>();
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

// Prebuilt messages for the limit: those of the first 200 recipients (the same mix of sizes).
const templates = compileTemplates(await readTemplateSources(join(root, 'templates')));
const chunks: Buffer[] = [];
for (const s of subscribers) {
  if (chunks.length >= 400) break;
  const selected = selections.get(preferenceKey(s))!;
  if (!selected.length) continue;
  const rendered = await renderEmail(templates, join(root, 'templates'), section, selected, renderSettings(loaded, taxonomy), s.format);
  const { raw } = await composeFor(loaded, rendered, section, s, links, new Date());
  const length = Buffer.alloc(4);
  length.writeUInt32BE(raw.length);
  chunks.push(length, raw);
}
const prebuiltFile = join(dir, 'prebuilt.bin');
await writeFile(prebuiltFile, Buffer.concat(chunks));
subscribers.length = 0;
selections.clear();

type Limit = { rate: number; cpuMsPerMessage: number };
type Pass = { sent: number; seconds: number; cpuMs: number; peakRss: number; renders: number; variants: number; compiles: number; layouts: number; whole: number };
const load0 = loadavg()[0]!;
const before = await child<Limit>('bench/limit-send.ts', [String(port), String(LIMIT_MESSAGES), prebuiltFile]);
const sinkBefore = await received();
const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
// The command's own node flags (NODE_FLAGS), or BENCH_PASS_FLAGS instead.
const flags = process.env.BENCH_PASS_FLAGS !== undefined ? process.env.BENCH_PASS_FLAGS.split(' ').filter(Boolean) : [...NODE_FLAGS];
const pass = await child<Pass>('bench/pass.js', [join(dir, 'config.json')], [...flags, ...profile]);
const got = (await received()) - sinkBefore;
const after = await child<Limit>('bench/limit-send.ts', [String(port), String(LIMIT_MESSAGES), prebuiltFile]);
const load1 = loadavg()[0]!;
sink.send({ stop: true });
await rm(dir, { recursive: true, force: true });

const limit = (before.rate + after.rate) / 2;
const rate = pass.sent / pass.seconds;
const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
const n = (x: number) => x.toLocaleString('en');
console.log(`throughput at ${n(N)} subscribers (section ${SECTION}, ${section.papers.length} papers, ${n(recipients)} recipients; load average ${load0.toFixed(1)} before, ${load1.toFixed(1)} after):`);
console.log(`  limit, plain nodemailer pool of prebuilt messages (${n(LIMIT_MESSAGES)} sends, before and after the pass): ${before.rate.toFixed(0)} and ${after.rate.toFixed(0)} msg/s, ${before.cpuMsPerMessage.toFixed(3)} CPU ms per message`);
console.log(`  whole pass: sent ${n(pass.sent)} (sink got ${n(got)}) in ${pass.seconds.toFixed(1)} s = ${rate.toFixed(0)} msg/s; ratio to the limit ${(rate / limit).toFixed(2)}`);
console.log(`  CPU ${(pass.cpuMs / Math.max(pass.sent, 1)).toFixed(3)} ms per message (the pass's process, transport included), peak RSS ${mb(pass.peakRss)}`);
console.log(`  renders ${n(pass.renders)} for ${n(paperSets.size)} distinct paper sets (${n(pass.variants)} seen by the run); MJML compiles ${n(pass.compiles)} (${pass.layouts} layouts, ${pass.whole} whole documents)`);
