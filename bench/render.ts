/**
 * Rendering vs per-recipient cost. Renders the distinct paper sets of the largest seed section
 * once, then personalises and splices MIME for many recipients, as a run does (no transport).
 * Prints figures and ratios from this one run; compare ratios, not absolute times.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Subscriber } from '../src/audience/schema.js';
import { matcherFor, preferenceKey } from '../src/audience/select.js';
import { parseConfig } from '../src/config/load.js';
import { parseDigest } from '../src/digest/parse.js';
import { compileTemplates, readTemplateSources } from '../src/render/templates.js';
import { renderSettings } from '../src/run/context.js';
import { VariantCache, composeFor } from '../src/run/deliver.js';
import { classifyPaper, compileTaxonomy } from '../src/topics/classify.js';
import { parseTaxonomy } from '../src/topics/load.js';
import { generateSubscribers } from './population.js';

const RECIPIENTS = Number(process.env.BENCH_RECIPIENTS ?? 2_000);
const root = process.cwd();
const config = parseConfig(JSON.parse(readFileSync(join(root, 'digest-mailer.config.json'), 'utf8')), join(root, 'digest-mailer.config.json'));
const taxonomy = parseTaxonomy(JSON.parse(readFileSync(join(root, 'topics.json'), 'utf8')), 'topics.json');
const compiled = compileTaxonomy(taxonomy);
const section = parseDigest(readFileSync(join(root, 'digests/2025-11.md'), 'utf8'), 'digests/2025-11.md').sections.find((s) => s.date === '2025-11-12')!;
const papers = section.papers.map((p) => classifyPaper(p, compiled));
const templates = compileTemplates(await readTemplateSources(config.paths.templates));
const links = { baseUrl: config.baseUrl, secret: 'bench-secret-bench-secret-bench-secret', ttlDays: 365 };

// The realistic mix of bench/population.ts (followed authors and keywords from the digest).
const subscribers: Subscriber[] = generateSubscribers(RECIPIENTS, { topicIds: taxonomy.topics.map((t) => t.id), sections: [section] }, 2025);
const prefSets = new Set(subscribers.map(preferenceKey));

const cache = new VariantCache(templates, config.paths.templates, renderSettings(config, taxonomy));
const selections = new Map<string, ReturnType<ReturnType<typeof matcherFor>['select']>>();
const selectionFor = (s: Subscriber) => {
  const key = preferenceKey(s);
  let sel = selections.get(key);
  if (!sel) selections.set(key, (sel = matcherFor(s).select(papers)));
  return sel;
};

const heapBefore = process.memoryUsage().heapUsed;
const t0 = performance.now();
for (const s of subscribers) {
  const sel = selectionFor(s);
  if (sel.length) await cache.render(section, sel, s.format);
}
const renderMs = performance.now() - t0;

const t1 = performance.now();
let bytes = 0;
let sent = 0;
const date = new Date();
for (const s of subscribers) {
  const sel = selectionFor(s);
  if (!sel.length) continue;
  const message = await composeFor(config, await cache.render(section, sel, s.format), section, s, links, date);
  bytes += message.raw.length;
  sent++;
}
const composeMs = performance.now() - t1;
const heapAfter = process.memoryUsage().heapUsed;

const perCompile = renderMs / cache.size;
const perRecipient = composeMs / sent;
console.log(`section ${section.date}: ${papers.length} papers, ${RECIPIENTS} subscribers, ${prefSets.size} preference sets`);
console.log(`render: ${cache.size} distinct variants (MJML compiles) in ${renderMs.toFixed(0)} ms = ${perCompile.toFixed(1)} ms per compile`);
console.log(`personalise + compose: ${sent} messages in ${composeMs.toFixed(0)} ms = ${(perRecipient * 1000).toFixed(0)} µs per recipient, ${(bytes / sent / 1000).toFixed(1)} KB average`);
console.log(`ratio: one MJML compile costs as much as ${(perCompile / perRecipient).toFixed(1)} recipients; rendering per recipient instead would make this run ${((perCompile * sent) / (renderMs + composeMs)).toFixed(1)}x slower`);
console.log(`heap growth over the run: ${((heapAfter - heapBefore) / 1e6).toFixed(1)} MB`);
