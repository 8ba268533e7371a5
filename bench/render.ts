/**
 * Rendering vs per-recipient cost. Readers of the largest seed section grouped by paper set, as a
 * run claims them: each paper set rendered once, then the reader copy and splice per recipient
 * (signed links, headers, encoded personal lines; no transport).
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
import { HeaderWriter } from '../src/mail/splice.js';
import { mjmlStats, variantKey } from '../src/render/render.js';
import { VariantCache, spliceFor } from '../src/run/deliver.js';
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
// Readers grouped by paper set, as a run claims them (deliveries.render_group).
const groups = new Map<string, Subscriber[]>();
for (const s of subscribers) {
  const sel = selectionFor(s);
  if (!sel.length) continue;
  const key = variantKey(sel, s.format);
  groups.set(key, [...(groups.get(key) ?? []), s]);
}

let renderMs = 0;
let spliceMs = 0;
let spliceCpu = 0;
let bytes = 0;
let sent = 0;
const headers = new HeaderWriter();
const date = new Date();
for (const readers of groups.values()) {
  const t0 = performance.now();
  await cache.variant(section, selectionFor(readers[0]!), readers[0]!.format);
  renderMs += performance.now() - t0;
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  for (const s of readers) {
    const message = spliceFor(config, await cache.render(section, selectionFor(s), s.format), section, s, links, date, headers);
    bytes += message.raw.length;
    sent++;
  }
  const c = process.cpuUsage(c1);
  spliceCpu += (c.user + c.system) / 1000;
  spliceMs += performance.now() - t1;
}

const compiles = mjmlStats(templates);
const perSet = renderMs / cache.size;
const perRecipient = spliceMs / sent;
console.log(`section ${section.date}: ${papers.length} papers, ${RECIPIENTS} subscribers, ${prefSets.size} preference sets, ${groups.size} distinct paper sets`);
console.log(`render: ${cache.renderCount} renders for ${cache.size} paper sets in ${renderMs.toFixed(0)} ms = ${perSet.toFixed(2)} ms per paper set; MJML compiles ${compiles.layouts + compiles.whole} (${compiles.layouts} layouts, ${compiles.whole} whole documents), ${compiles.inlined} juice runs`);
console.log(`reader copy + splice: ${sent} messages in ${spliceMs.toFixed(0)} ms = ${(perRecipient * 1000).toFixed(0)} µs per recipient (${((spliceCpu / sent) * 1000).toFixed(0)} µs CPU), ${(bytes / sent / 1000).toFixed(1)} KB average`);
console.log(`ratio: one paper set costs as much as ${(perSet / perRecipient).toFixed(1)} recipients`);
