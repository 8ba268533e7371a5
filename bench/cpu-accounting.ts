/**
 * CPU time of the processes in a benchmark pass, read from /proc (Linux; elsewhere every figure
 * is null): a process with its children (a worker pool, or the PostgreSQL server with its
 * backends, exited ones included through the parent's reaped-children time), sampled over time
 * so the figure for a window of the pass (the sink's first to last message) can be taken.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';

const TICKS = 100; // USER_HZ: clock ticks per second on Linux

interface Stat {
  /** Own CPU seconds (user + system). */
  cpu: number;
  /** CPU seconds of its children that it has reaped. */
  reaped: number;
}

function stat(pid: number): Stat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { cpu: (Number(f[11]) + Number(f[12])) / TICKS, reaped: (Number(f[13]) + Number(f[14])) / TICKS };
  } catch {
    return null;
  }
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds of `pid` and every descendant, living or reaped; null once `pid` is gone or unreadable. */
export function treeCpu(pid: number): number | null {
  const own = stat(pid);
  if (!own) return null;
  return own.cpu + own.reaped + children(pid).reduce((sum, child) => sum + (treeCpu(child) ?? 0), 0);
}

/** The pid of the PostgreSQL server behind `url` when it runs on this machine (the parent of a backend), or null. */
export async function postmasterPid(url: string): Promise<number | null> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const backend = Number((await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid);
    const s = readFileSync(`/proc/${backend}/stat`, 'utf8');
    const parent = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
    return stat(parent) ? parent : null;
  } catch {
    return null;
  } finally {
    await client.end();
  }
}

/** Samples a CPU reading every `everyMs`; `at(t)` is the last reading at or before `t` (performance.now()). */
export class CpuSeries {
  private readonly samples: [number, number][] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly read: () => number | null, everyMs = 100) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    const value = this.read();
    if (value !== null) this.samples.push([performance.now(), value]);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** CPU seconds spent between `from` and `to`, to the sampling interval; null with no readings. */
  between(from: number, to: number): number | null {
    const at = (t: number) => {
      let value: number | null = null;
      for (const [time, v] of this.samples) if (time <= t) value = v;
      return value;
    };
    const a = at(from);
    const b = at(to);
    return a === null || b === null ? null : b - a;
  }
}
