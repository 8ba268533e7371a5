/**
 * Several workers (issue 9): one `digest-mailer run` against `run --workers 2` on PostgreSQL,
 * sending the newest seed section to BENCH_WORKER_RECIPIENTS (default 4,000) realistic
 * subscribers through SMTP to a fast local sink, BENCH_RUNS times (default 3). The figure is the
 * rate at the sink from its first message to its last; the goal is 2 workers >= 1.7x one.
 * Skipped with a line when no PostgreSQL server answers.
 *
 * Beside each rate: the CPU per message, within that same window, of the worker processes, of
 * the PostgreSQL server (when it runs on this machine) and of the sink (this process), from
 * /proc. Two workers on two cores can send at most 2 / (w + p + s) messages a second with those
 * figures (the "CPU ceiling"), which says whether a ratio is held back by waiting (the ceiling
 * is far above the rate) or by the CPU the two cores have (the rate is at the ceiling).
 * BENCH_WORKER_CONTENTION=1 adds a pass of one worker beside a busy loop in a process of its
 * own: what keeping both cores busy costs each message with no shared state at all.
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { NODE_FLAGS } from '../src/node-support.js';
import { PG_ADMIN_URL, postgresReachable } from '../test/store/pg-database.js';
import { CpuSeries, postmasterPid, treeCpu } from './cpu-accounting.js';
import { startFastSink, type FastSink } from './fast-sink.js';
import { ROOT, benchProject } from './project.js';

const RECIPIENTS = Number(process.env.BENCH_WORKER_RECIPIENTS ?? 4000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/** Also one worker beside a busy loop in another process (no shared state at all): what sharing the cores costs by itself. */
const CONTENTION = process.env.BENCH_WORKER_CONTENTION === '1';

interface Pass {
  rate: number;
  /** The rate from the first message after the planner finished queueing the list to the last (see below). */
  afterPlanning: number;
  messages: number;
  /** CPU microseconds per message in the sink's window: workers (all together), PostgreSQL, sink. */
  cpu: { workers: number | null; postgres: number | null; sink: number };
}

/** One pass with `workers` processes; messages per second at the sink, first to last message. */
async function pass(workers: number, sink: FastSink, options: { beside?: 'busy loop' } = {}): Promise<Pass> {
  const p = await benchProject('postgres', RECIPIENTS, sink.port, { delivery: { ratePerSecond: 1_000_000, concurrency: 8 } });
  const spinner = options.beside ? spawn(process.execPath, ['-e', 'let x = 0; for (;;) x = (x * 31 + 7) | 0;'], { stdio: 'ignore' }) : null;
  try {
    sink.arrivals.length = 0;
    const postmaster = await postmasterPid(p.env.BENCH_DATABASE_URL!);
    const postgres = postmaster === null ? null : new CpuSeries(() => treeCpu(postmaster));
    const self = new CpuSeries(() => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1e6;
    });
    const args = [join(ROOT, 'bin/digest-mailer.js'), '--config', join(p.dir, 'config.json'), 'run', ...(workers > 1 ? ['--workers', String(workers)] : [])];
    // With the Node flags the command runs with (its shebang, and the workers of --workers N):
    // started as `node bin/digest-mailer.js` it would run without them, so one worker alone would
    // have V8's default young generation and its workers the command's smaller one.
    const child = spawn(process.execPath, [...NODE_FLAGS, ...args], { env: { ...process.env, ...p.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const senders = new CpuSeries(() => (child.pid === undefined ? null : treeCpu(child.pid)));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // When the planner has queued everyone ("section planned" once it is done; a sender logs it
    // at once, so the last one is the planner's). One worker plans before it sends, so its window
    // holds no planning; beside a second worker the planner plans while the other already sends,
    // so that window also holds the planning work: the rate after planning compares like with like.
    let plannedAt = 0;
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      out += text;
      if (text.includes('"msg":"section planned"')) plannedAt = performance.now();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    for (const series of [senders, postgres, self]) series?.stop();
    if (code !== 0) throw new Error(`run with ${workers} worker(s) exited ${code}:\n${out.slice(-2000)}`);
    const n = sink.arrivals.length;
    const [first, last] = [sink.arrivals[0]!, sink.arrivals[n - 1]!];
    const perMessage = (seconds: number | null | undefined) => (seconds === null || seconds === undefined ? null : (seconds * 1e6) / n);
    const steady = sink.arrivals.filter((t) => t >= plannedAt);
    return {
      rate: (n - 1) / ((last - first) / 1000),
      afterPlanning: (steady.length - 1) / ((steady.at(-1)! - steady[0]!) / 1000),
      messages: n,
      cpu: { workers: perMessage(senders.between(first, last)), postgres: perMessage(postgres?.between(first, last)), sink: perMessage(self.between(first, last))! },
    };
  } finally {
    spinner?.kill();
    await p.dispose();
  }
}

const us = (v: number | null) => (v === null ? '?' : v.toFixed(0));
function cpuLine(label: string, r: Pass): string {
  const { workers, postgres, sink } = r.cpu;
  const ceiling = workers !== null && postgres !== null ? `; 2 cores at these costs: at most ${(2e6 / (workers + postgres + sink)).toFixed(0)} msg/s` : '';
  return `    ${label}: CPU per message (us) workers ${us(workers)}, PostgreSQL ${us(postgres)}, sink ${us(sink)}${ceiling}`;
}

console.log(`\n== Workers on PostgreSQL: 1 vs 2 worker processes, ${RECIPIENTS} realistic subscribers, newest seed section, fast SMTP sink, ${RUNS} runs`);
if (!(await postgresReachable())) {
  console.log(`  skipped: no PostgreSQL server at ${PG_ADMIN_URL} (set PG_TEST_URL)`);
} else {
  const sink = await startFastSink();
  try {
    const ratios: number[] = [];
    const steadyRatios: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const before = loadavg()[0]!.toFixed(1);
      const one = await pass(1, sink);
      const two = await pass(2, sink);
      const ratio = two.rate / one.rate;
      ratios.push(ratio);
      steadyRatios.push(two.afterPlanning / one.afterPlanning);
      console.log(`  run ${run}: 1 worker ${one.rate.toFixed(1)} msg/s, 2 workers ${two.rate.toFixed(1)} msg/s (${two.messages} messages), ratio ${ratio.toFixed(2)}; load average ${before} -> ${loadavg()[0]!.toFixed(1)}`);
      console.log(`    after planning: 1 worker ${one.afterPlanning.toFixed(1)} msg/s, 2 workers ${two.afterPlanning.toFixed(1)} msg/s, ratio ${(two.afterPlanning / one.afterPlanning).toFixed(2)}`);
      console.log(cpuLine('1 worker ', one));
      console.log(cpuLine('2 workers', two));
      if (CONTENTION) {
        const busy = await pass(1, sink, { beside: 'busy loop' });
        console.log(`    1 worker beside a busy loop: ${busy.rate.toFixed(1)} msg/s`);
        console.log(cpuLine('1 worker + busy loop', busy));
      }
    }
    console.log(`  ratio ${Math.min(...ratios).toFixed(2)}..${Math.max(...ratios).toFixed(2)}, after planning ${Math.min(...steadyRatios).toFixed(2)}..${Math.max(...steadyRatios).toFixed(2)} (goal >= 1.7)`);
  } finally {
    await sink.close();
  }
}
