/**
 * Several workers (issue 9): one `digest-mailer run` against `run --workers 2` on PostgreSQL,
 * sending the newest seed section to BENCH_WORKER_RECIPIENTS (default 4,000) realistic
 * subscribers through SMTP to a fast local sink, BENCH_RUNS times (default 3). The figure is the
 * rate at the sink from its first message to its last; the goal is 2 workers >= 1.7x one.
 * Skipped with a line when no PostgreSQL server answers.
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { PG_ADMIN_URL, postgresReachable } from '../test/store/pg-database.js';
import { startFastSink, type FastSink } from './fast-sink.js';
import { ROOT, benchProject } from './project.js';

const RECIPIENTS = Number(process.env.BENCH_WORKER_RECIPIENTS ?? 4000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

/** One pass with `workers` processes; messages per second at the sink, first to last message. */
async function pass(workers: number, sink: FastSink): Promise<{ rate: number; messages: number }> {
  const p = await benchProject('postgres', RECIPIENTS, sink.port, { delivery: { ratePerSecond: 1_000_000, concurrency: 8 } });
  try {
    sink.arrivals.length = 0;
    const args = [join(ROOT, 'bin/digest-mailer.js'), '--config', join(p.dir, 'config.json'), 'run', ...(workers > 1 ? ['--workers', String(workers)] : [])];
    const child = spawn(process.execPath, args, { env: { ...process.env, ...p.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`run with ${workers} worker(s) exited ${code}:\n${out.slice(-2000)}`);
    const n = sink.arrivals.length;
    const seconds = (sink.arrivals[n - 1]! - sink.arrivals[0]!) / 1000;
    return { rate: (n - 1) / seconds, messages: n };
  } finally {
    await p.dispose();
  }
}

console.log(`\n== Workers on PostgreSQL: 1 vs 2 worker processes, ${RECIPIENTS} realistic subscribers, newest seed section, fast SMTP sink, ${RUNS} runs`);
if (!(await postgresReachable())) {
  console.log(`  skipped: no PostgreSQL server at ${PG_ADMIN_URL} (set PG_TEST_URL)`);
} else {
  const sink = await startFastSink();
  try {
    const ratios: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const before = loadavg()[0]!.toFixed(1);
      const one = await pass(1, sink);
      const two = await pass(2, sink);
      const ratio = two.rate / one.rate;
      ratios.push(ratio);
      console.log(`  run ${run}: 1 worker ${one.rate.toFixed(1)} msg/s, 2 workers ${two.rate.toFixed(1)} msg/s (${two.messages} messages), ratio ${ratio.toFixed(2)}; load average ${before} -> ${loadavg()[0]!.toFixed(1)}`);
    }
    console.log(`  ratio ${Math.min(...ratios).toFixed(2)}..${Math.max(...ratios).toFixed(2)} (goal >= 1.7)`);
  } finally {
    await sink.close();
  }
}
