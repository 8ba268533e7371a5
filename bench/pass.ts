/**
 * The whole pass (bench/throughput-run.ts): `digest-mailer run` on a prepared project, in its
 * own process, so its peak RSS is that of a send and nothing else. argv: config file.
 */
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config/load.js';
import { mjmlTotals } from '../src/render/mjml-layout.js';
import { executeRun } from '../src/run/execute.js';

let peakRss = 0;
let samples = 0;
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  // BENCH_MEMLOG=1: where the memory is, once a second.
  if (process.env.BENCH_MEMLOG && samples++ % 50 === 0) {
    const mb = (b: number) => (b / 1e6).toFixed(0);
    console.error(`  rss ${mb(m.rss)} heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} external ${mb(m.external)} arrayBuffers ${mb(m.arrayBuffers)}`);
  }
}, 20);
const config = await loadConfig(process.argv[2]!);
const links = { baseUrl: config.baseUrl, secret: 'bench-secret-bench-secret-bench-secret', ttlDays: 365 };
const cpu0 = process.cpuUsage();
const start = performance.now();
const summary = await executeRun(config, { dryRun: false, backfill: false }, { links: () => links, command: 'bench' });
const seconds = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpu0);
clearInterval(sampler);
const section = summary.sections.find((s) => s.counts);
const sent = section?.counts?.sent ?? 0;
process.send!({
  sent,
  seconds,
  cpuMs: (cpu.user + cpu.system) / 1000,
  peakRss: Math.max(peakRss, process.resourceUsage().maxRSS * 1024),
  renders: section?.renders ?? 0,
  variants: section?.variants ?? 0,
  compiles: mjmlTotals.layouts + mjmlTotals.whole,
  layouts: mjmlTotals.layouts,
  whole: mjmlTotals.whole,
}, () => process.disconnect());
