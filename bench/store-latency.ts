/**
 * Store latency over real HTTP (issue 9): a list of BENCH_STORE_SUBSCRIBERS (default 100,000)
 * realistic subscribers, the project's own web server (`digest-mailer serve`) in its own
 * process, and three requests timed from this process: subscribe, a preference change and an
 * RFC 8058 one-click unsubscribe. Each is timed alone (one request at a time) and right behind
 * a burst of 100 concurrent subscribes. Both engines (BENCH_STORE_ENGINES, default
 * "sqlite,postgres"; PostgreSQL is skipped with a line when no server answers), BENCH_RUNS runs
 * (default 3) of BENCH_STORE_SAMPLES requests alone (default 150) and BENCH_STORE_BURSTS bursts
 * per request kind (default 15). Confirmation emails go to a fast local SMTP sink. Each run
 * also times the burst pattern against a plain node:http server (the floor this client and
 * machine set) and prints the server's CPU per request of the bursts. BENCH_SERVE_FLAGS: Node
 * flags for the server (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { recipientLinks } from '../src/tokens/links.js';
import { PG_ADMIN_URL, postgresReachable } from '../test/store/pg-database.js';
import { startFastSink } from './fast-sink.js';
import { ROOT, benchProject, type BenchProject } from './project.js';

const SUBSCRIBERS = Number(process.env.BENCH_STORE_SUBSCRIBERS ?? 100_000);
const SAMPLES = Number(process.env.BENCH_STORE_SAMPLES ?? 150);
const BURSTS = Number(process.env.BENCH_STORE_BURSTS ?? 15);
const BURST_SIZE = 100;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ENGINES = (process.env.BENCH_STORE_ENGINES ?? 'sqlite,postgres').split(',').map((e) => e.trim()).filter((e): e is 'sqlite' | 'postgres' => e === 'sqlite' || e === 'postgres');

type Kind = 'subscribe' | 'preferences' | 'unsubscribe';
const KINDS: Kind[] = ['subscribe', 'preferences', 'unsubscribe'];

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The project for an engine; prints how long the import of the list took. */
async function project(engine: 'sqlite' | 'postgres', sinkPort: number): Promise<BenchProject> {
  const started = performance.now();
  const p = await benchProject(engine, SUBSCRIBERS, sinkPort, { web: { subscribePerIpPerMinute: 1_000_000, confirmationsPerAddressPerHour: 1_000 } });
  console.log(`  ${engine}: ${SUBSCRIBERS} subscribers imported in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return p;
}

async function startServer(p: BenchProject): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  // BENCH_SERVE_FLAGS: Node flags for the server process (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
  const flags = (process.env.BENCH_SERVE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...flags, join(ROOT, 'bin/digest-mailer.js'), '--config', join(p.dir, 'config.json'), 'serve', '--port', String(port)], {
    env: { ...process.env, ...p.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening on')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`serve exited (${code}): ${out}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

function form(body: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(body)) for (const item of Array.isArray(v) ? v : [v]) params.append(k, item);
  return params.toString();
}

/** One request of a kind; resolves with its latency in ms (the answer read in full). */
function requester(url: string, secret: string) {
  const links = { baseUrl: url, secret, ttlDays: 365 };
  let fresh = 0;
  let member = 0;
  const post = async (path: string, body: string, ok: number) => {
    const started = performance.now();
    const res = await fetch(`${url}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    await res.arrayBuffer();
    const ms = performance.now() - started;
    if (res.status !== ok) throw new Error(`POST ${path.split('?')[0]} answered ${res.status}, expected ${ok}`);
    return ms;
  };
  const token = (link: string) => new URL(link).searchParams.get('token')!;
  return {
    subscribe: () => post('/subscribe', form({ email: `new${process.pid}-${fresh++}-${randomBytes(3).toString('hex')}@example.net`, topics: ['video', 'rl'] }), 200),
    request(kind: Kind): Promise<number> {
      if (kind === 'subscribe') return this.subscribe();
      // Existing subscribers, a different one each time, spread over the list.
      const email = `reader${(member++ * 7919) % SUBSCRIBERS}@example.org`;
      const signed = recipientLinks(links, email, new Date());
      if (kind === 'preferences') return post('/preferences', form({ token: token(signed.manageUrl), topics: ['video', 'agents-tools'], authors: '', keywords: '' }), 303);
      return post(`/unsubscribe?token=${token(signed.unsubscribeUrl)}`, 'List-Unsubscribe=One-Click', 200);
    },
  };
}

/**
 * CPU time (user + system, ms) the server process has used so far, from /proc (Linux; 10 ms
 * ticks). Unlike latency it hardly depends on what else the machine runs: it says what one
 * request costs the server, and so how long a burst holds its one event loop on a quiet core.
 */
function serverCpuMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

interface Figures {
  p50: number;
  p99: number;
  n: number;
}

function figures(samples: number[]): Figures {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: sorted.length };
}

async function oneRun(url: string, secret: string, pid: number, cpu: Record<string, number[]>): Promise<Record<string, Figures>> {
  const r = requester(url, secret);
  const out: Record<string, Figures> = {};
  for (const kind of KINDS) {
    const samples: number[] = [];
    const before = serverCpuMs(pid);
    for (let i = 0; i < SAMPLES; i++) samples.push(await r.request(kind));
    // A subscribe's confirmation email goes out after the answer: wait for it to count it too.
    if (kind === 'subscribe') await new Promise((resolve) => setTimeout(resolve, 1_000));
    const after = serverCpuMs(pid);
    if (before !== undefined && after !== undefined) (cpu[kind] ??= []).push((after - before) / SAMPLES);
    out[`${kind} alone`] = figures(samples);
  }
  const burstsBefore = serverCpuMs(pid);
  for (const kind of KINDS) {
    const samples: number[] = [];
    for (let i = 0; i < BURSTS; i++) {
      const burst = Promise.all(Array.from({ length: BURST_SIZE }, () => r.subscribe()));
      // The timed request arrives right behind the burst's 100, as a click would.
      samples.push(await r.request(kind));
      await burst;
    }
    out[`${kind} behind ${BURST_SIZE}`] = figures(samples);
  }
  const burstsAfter = serverCpuMs(pid);
  // Per request of the bursts (the timed ones included), with whatever confirmation emails the
  // drainer composed and sent meanwhile (at the configured send rate).
  if (burstsBefore !== undefined && burstsAfter !== undefined) (cpu.burst ??= []).push((burstsAfter - burstsBefore) / (KINDS.length * BURSTS * (BURST_SIZE + 1)));
  return out;
}

/**
 * The same pattern (a POST right behind 100 concurrent POSTs, BURSTS x 3 times) against a plain
 * node:http server in its own process that answers each at once with a page of the check-inbox
 * page's size: what this client, the kernel and the machine's load add by themselves, before any
 * work of ours. Behind-the-burst figures of `serve` are read against it.
 */
async function floor(): Promise<Figures> {
  const port = await freePort();
  const server = `require('node:http').createServer((q, s) => { q.resume(); q.on('end', () => { s.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); s.end('x'.repeat(1028)); }); }).listen(${port}, '127.0.0.1', () => console.log('up'))`;
  const child = spawn(process.execPath, ['-e', server], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((resolve) => child.stdout!.once('data', resolve));
    const post = async () => {
      const started = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/subscribe`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form({ email: `x${randomBytes(3).toString('hex')}@example.net`, topics: ['video', 'rl'] }) });
      await res.arrayBuffer();
      return performance.now() - started;
    };
    for (let i = 0; i < 20; i++) await post();
    const samples: number[] = [];
    for (let i = 0; i < BURSTS * KINDS.length; i++) {
      const burst = Promise.all(Array.from({ length: BURST_SIZE }, post));
      samples.push(await post());
      await burst;
    }
    return figures(samples);
  } finally {
    child.kill();
  }
}

const fmt = (ms: number) => `${ms.toFixed(1)}`;

console.log(`\n== Store latency over HTTP: ${SUBSCRIBERS} subscribers, ${RUNS} runs (${SAMPLES} requests alone, ${BURSTS} bursts of ${BURST_SIZE} subscribes per kind)`);
const sink = await startFastSink();
try {
  for (const engine of ENGINES) {
    if (engine === 'postgres' && !(await postgresReachable())) {
      console.log(`  postgres: skipped, no server at ${PG_ADMIN_URL} (set PG_TEST_URL)`);
      continue;
    }
    const p = await project(engine, sink.port);
    const server = await startServer(p);
    try {
      const runs: Record<string, Figures>[] = [];
      const cpu: Record<string, number[]> = {};
      for (let run = 1; run <= RUNS; run++) {
        const run1 = await oneRun(server.url, p.env.DIGEST_MAILER_SECRET!, server.child.pid!, cpu);
        runs.push({ ...run1, [`plain node:http behind ${BURST_SIZE}`]: await floor() });
        console.log(`  ${engine} run ${run} done, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
      }
      console.log(`  ${engine}: ms, median and p99 per run; spread = lowest..highest p99 over the runs`);
      for (const label of Object.keys(runs[0]!)) {
        const cells = runs.map((r) => `${fmt(r[label]!.p50)} / ${fmt(r[label]!.p99)}`).join('   ');
        const p99s = runs.map((r) => r[label]!.p99);
        console.log(`    ${label.padEnd(26)} ${cells}   (p99 ${fmt(Math.min(...p99s))}..${fmt(Math.max(...p99s))}, n=${runs[0]![label]!.n})`);
      }
      if (Object.keys(cpu).length) {
        const line = [...KINDS, 'burst' as const].filter((k) => cpu[k]).map((k) => `${k === 'burst' ? `a request of the bursts` : k} ${cpu[k]!.map((ms) => ms.toFixed(2)).join('/')}`).join(', ');
        console.log(`  ${engine}: server CPU ms per request, per run (a subscribe with its confirmation email): ${line}`);
      }
    } finally {
      server.child.kill('SIGTERM');
      await new Promise((resolve) => server.child.once('exit', resolve));
      await p.dispose();
    }
  }
} finally {
  await sink.close();
}
