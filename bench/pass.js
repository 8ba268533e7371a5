/**
 * The whole pass (bench/throughput-run.ts): `digest-mailer run` on a prepared project, in its
 * own process and as the command runs it (plain JavaScript compiled from the sources, see
 * bin/compiled.js; no transpiler in the process), so its peak RSS is that of a send and nothing
 * else. argv: config file.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { compiledSources } from '../bin/compiled.js';

// As bin/digest-mailer.js starts the command.
process.setSourceMapsEnabled(true);
const dir = await compiledSources();
const load = (path) => import(pathToFileURL(join(dir, path)).href);
const [{ loadConfig }, { mjmlTotals }, { executeRun }] = await Promise.all([load('config/load.js'), load('render/mjml-layout.js'), load('run/execute.js')]);

// Peak RSS is the kernel's high-water mark (resourceUsage().maxRSS), read at the end: sampling
// process.memoryUsage() every few milliseconds cost the pass about 1% of its CPU.
// BENCH_MEMLOG=1: where the memory is, once a second.
const sampler = setInterval(() => {
  if (!process.env.BENCH_MEMLOG) return;
  const m = process.memoryUsage();
  const mb = (b) => (b / 1e6).toFixed(0);
  console.error(`  rss ${mb(m.rss)} heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)}`);
}, 1000);
const config = await loadConfig(process.argv[2]);
const links = { baseUrl: config.baseUrl, secret: 'bench-secret-bench-secret-bench-secret', ttlDays: 365 };
const cpu0 = process.cpuUsage();
const start = performance.now();
const summary = await executeRun(config, { dryRun: false, backfill: false }, { links: () => links, command: 'bench' });
const seconds = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpu0);
clearInterval(sampler);
const section = summary.sections.find((s) => s.counts);
process.send({
  sent: section?.counts?.sent ?? 0,
  seconds,
  cpuMs: (cpu.user + cpu.system) / 1000,
  peakRss: process.resourceUsage().maxRSS * 1024,
  renders: section?.renders ?? 0,
  variants: section?.variants ?? 0,
  compiles: mjmlTotals.layouts + mjmlTotals.whole,
  layouts: mjmlTotals.layouts,
  whole: mjmlTotals.whole,
}, () => process.disconnect());
