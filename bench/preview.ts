/**
 * The preview at scale: 100,000 subscribers (BENCH_PREVIEW_SUBSCRIBERS) of the realistic mix in
 * the store, the preview server on 127.0.0.1, and the time of a section view (the page and its
 * two email frames, fetched as a browser does) the first time, again, and for other
 * subscribers, plus the picker's search. Loopback only; bounded; stops by itself.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config/load.js';
import { parseDigest } from '../src/digest/parse.js';
import { buildPreviewServer } from '../src/preview/server.js';
import { ChangeWatcher } from '../src/preview/watch.js';
import { openAppStore } from '../src/store/bootstrap.js';
import { parseTaxonomy } from '../src/topics/load.js';
import { generateSubscribers } from './population.js';

const N = Number(process.env.BENCH_PREVIEW_SUBSCRIBERS ?? 100_000);
const SECTION = '2025-11-12';
const OTHERS = 20;
const root = process.cwd();

const dir = await mkdtemp(join(tmpdir(), 'dm-bench-preview-'));
try {
  await mkdir(join(dir, 'digests'));
  const seed = await readFile(join(root, 'digests/2025-11.md'), 'utf8');
  await writeFile(join(dir, 'digests/2025-11.md'), seed);
  await writeFile(join(dir, 'subscribers.json'), JSON.stringify({ subscribers: [] }));
  const config0 = JSON.parse(await readFile(join(root, 'digest-mailer.config.json'), 'utf8'));
  config0.paths = { digests: 'digests', subscribers: 'subscribers.json', topics: join(root, 'topics.json'), templates: join(root, 'templates'), state: 'state', outbox: 'outbox' };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config0));
  const config = await loadConfig(join(dir, 'config.json'));

  const section = parseDigest(seed, 'digests/2025-11.md').sections.find((s) => s.date === SECTION)!;
  const taxonomy = parseTaxonomy(JSON.parse(await readFile(join(root, 'topics.json'), 'utf8')), 'topics.json');
  const subscribers = generateSubscribers(N, { topicIds: taxonomy.topics.map((t) => t.id), sections: [section] }, 2025);

  const store = await openAppStore(config);
  const t0 = performance.now();
  for (let i = 0; i < subscribers.length; i += 5_000) {
    await store.importSubscribers(subscribers.slice(i, i + 5_000).map((subscriber) => ({ subscriber, history: [] })), 'bench');
  }
  console.log(`preview: ${N} subscribers imported into ${store.engine} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const watcher = new ChangeWatcher([config.paths.templates, config.paths.digests], [config.paths.topics]);
  const app = await buildPreviewServer({ config, watcher, logger: false, store });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  const fetchOk = async (path: string) => {
    const res = await fetch(`${url}${path}`);
    const body = await res.arrayBuffer();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${Buffer.from(body).toString('utf8').slice(0, 200)}`);
    return body.byteLength;
  };
  /** One view as a browser loads it: the page, then both email frames at once. */
  const view = async (email: string) => {
    const query = new URLSearchParams({ subscriber: email }).toString();
    const start = performance.now();
    const pageBytes = await fetchOk(`/section/${SECTION}?${query}`);
    const pageMs = performance.now() - start;
    await Promise.all([fetchOk(`/email/${SECTION}/html?${query}`), fetchOk(`/email/${SECTION}/html?${query}`)]);
    return { pageMs, viewMs: performance.now() - start, pageBytes };
  };
  const summary = (ms: number[]) => {
    const sorted = [...ms].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    return `median ${at(0.5).toFixed(0)} ms, p90 ${at(0.9).toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms`;
  };

  const first = await view(subscribers[0]!.email);
  const again: number[] = [];
  for (let i = 0; i < 5; i++) again.push((await view(subscribers[0]!.email)).viewMs);
  const others: number[] = [];
  const otherPages: number[] = [];
  for (let i = 1; i <= OTHERS; i++) {
    const result = await view(subscribers[Math.floor((i * N) / (OTHERS + 1))]!.email);
    others.push(result.viewMs);
    otherPages.push(result.pageMs);
  }
  const searches: number[] = [];
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    await fetchOk(`/subscribers/search?q=reader${(i * 4_999) % N}&limit=12`);
    searches.push(performance.now() - start);
  }
  const [load1] = loadavg();
  console.log(`preview: first view of ${SECTION} (page + 2 frames) ${first.viewMs.toFixed(0)} ms, page ${(first.pageBytes / 1000).toFixed(0)} KB`);
  console.log(`preview: same view again x5: ${summary(again)}`);
  console.log(`preview: ${OTHERS} other subscribers, whole view: ${summary(others)}; page alone: ${summary(otherPages)}`);
  console.log(`preview: picker search x20: ${summary(searches)}`);
  console.log(`preview: load average ${load1!.toFixed(1)} on ${cpus().length} cores; goal: a view under 500 ms after the first`);

  watcher.close();
  await app.close();
  await store.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
