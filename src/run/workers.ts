import { spawn } from 'node:child_process';
import { NODE_FLAGS } from '../node-support.js';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Problem } from '../errors.js';
import type { StopReason } from '../mail/flow.js';
import type { DeliveryCounts } from './deliver.js';
import type { RunSummary, SectionOutcome } from './run.js';

/** The command each worker runs (the same entry point as the parent's). */
const BIN = fileURLToPath(new URL('../../bin/digest-mailer.js', import.meta.url));

/** Set in each worker's environment: its number, 1..N. */
export const WORKER_ENV = 'DIGEST_MAILER_WORKER';

export interface WorkerExit {
  worker: number;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The worker's pass, as it printed it (null when it died before printing one). */
  summary: RunSummary | null;
}

export interface WorkerPool {
  /** Resolves once every worker has exited. */
  exited: Promise<WorkerExit[]>;
  /** Asks every worker still running to stop cleanly (SIGTERM: in-flight sends finish, the rest stays pending). */
  stop(signal?: NodeJS.Signals): void;
}

export interface WorkerOptions {
  count: number;
  /** Arguments of each worker after the binary (global options, `run`, its flags). */
  args: string[];
  env?: NodeJS.ProcessEnv | undefined;
  /** One line a worker wrote to stderr (its log lines and messages). */
  onLine: (worker: number, line: string) => void;
  onStart?: ((worker: number, pid: number | undefined) => void) | undefined;
}

/**
 * Starts `count` local worker processes of the same pass (`run --workers N`). Each prints its
 * summary as JSON on stdout (`--summary-json`); its stderr is passed on line by line.
 */
export function startWorkers(options: WorkerOptions): WorkerPool {
  const children = Array.from({ length: options.count }, (_, i) => {
    const worker = i + 1;
    const child = spawn(process.execPath, [...NODE_FLAGS, BIN, ...options.args], {
      env: { ...process.env, ...options.env, [WORKER_ENV]: String(worker) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    options.onStart?.(worker, child.pid);
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const lines = createInterface({ input: child.stderr });
    lines.on('line', (line) => options.onLine(worker, line));
    const exited = new Promise<WorkerExit>((resolve) => {
      let status: { code: number | null; signal: NodeJS.Signals | null } | null = null;
      let streamsClosed = false;
      const finish = () => {
        if (!status || !streamsClosed) return;
        resolve({ worker, pid: child.pid, ...status, summary: parseSummary(stdout) });
      };
      child.on('exit', (code, signal) => {
        status = { code, signal };
        finish();
      });
      child.on('close', () => {
        streamsClosed = true;
        finish();
      });
      child.on('error', (err) => {
        options.onLine(worker, `could not start: ${err.message}`);
        status = { code: 1, signal: null };
        streamsClosed = true;
        finish();
      });
    });
    return { child, exited };
  });
  return {
    exited: Promise.all(children.map((c) => c.exited)),
    stop(signal = 'SIGTERM') {
      for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

function parseSummary(stdout: string): RunSummary | null {
  const last = stdout.trim().split('\n').at(-1);
  if (!last) return null;
  try {
    return JSON.parse(last) as RunSummary;
  } catch {
    return null;
  }
}

const STOP_SEVERITY: Record<StopReason, number> = { signal: 1, quota: 2, session: 3 };

function sumCounts(a: DeliveryCounts | null, b: DeliveryCounts | null): DeliveryCounts | null {
  if (!a || !b) return a ?? b;
  const reasons = new Map<string, number>();
  for (const r of [...a.reasons, ...b.reasons]) reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + r.count);
  return {
    sent: a.sent + b.sent,
    skippedNoMatch: a.skippedNoMatch + b.skippedNoMatch,
    failed: a.failed + b.failed,
    // Counted by the planner alone; the senders report 0.
    alreadyDone: a.alreadyDone + b.alreadyDone,
    notEligible: Math.max(a.notEligible, b.notEligible),
    // What was left when each finished: the later ones saw less.
    pending: Math.min(a.pending, b.pending),
    wouldSend: a.wouldSend + b.wouldSend,
    // Counted by the planner alone, like alreadyDone.
    notDueYet: (a.notDueYet ?? 0) + (b.notDueYet ?? 0),
    paused: (a.paused ?? 0) + (b.paused ?? 0),
    deferred: (a.deferred ?? 0) + (b.deferred ?? 0),
    reasons: [...reasons].map(([reason, count]) => ({ reason, count })).sort((x, y) => y.count - x.count || x.reason.localeCompare(y.reason)),
  };
}

function mergeSection(a: SectionOutcome, b: SectionOutcome): SectionOutcome {
  // The planner saw the section as it was before the pass; a sender may have joined later.
  const first = b.role === 'planner' && a.role !== 'planner' ? b : a;
  return {
    ...first,
    after: a.after === 'sent' || b.after === 'sent' ? 'sent' : first.after,
    counts: sumCounts(a.counts, b.counts),
    variants: Math.max(a.variants, b.variants),
    renders: a.renders + b.renders,
    largestHtmlBytes: Math.max(a.largestHtmlBytes, b.largestHtmlBytes),
    changedAfterSend: a.changedAfterSend || b.changedAfterSend,
    role: undefined,
    ...(a.error || b.error ? { error: a.error ?? b.error } : {}),
  };
}

/** The workers' passes as one: counts added up per section, each problem once, the gravest stop. */
export function mergeSummaries(summaries: readonly RunSummary[]): RunSummary | null {
  if (summaries.length === 0) return null;
  const sections = new Map<string, SectionOutcome>();
  const problems = new Map<string, Problem>();
  let stoppedEarly: StopReason | null = null;
  let sessionFailure: RunSummary['sessionFailure'] = null;
  for (const summary of summaries) {
    for (const s of summary.sections) {
      const seen = sections.get(s.date);
      sections.set(s.date, seen ? mergeSection(seen, s) : { ...s, role: undefined });
    }
    for (const p of summary.problems) problems.set(`${p.where}\n${p.message}`, p);
    if (summary.stoppedEarly && (!stoppedEarly || STOP_SEVERITY[summary.stoppedEarly] > STOP_SEVERITY[stoppedEarly])) stoppedEarly = summary.stoppedEarly;
    sessionFailure ??= summary.sessionFailure;
  }
  return {
    dryRun: summaries[0]!.dryRun,
    today: summaries[0]!.today,
    sections: [...sections.values()].sort((x, y) => (x.date < y.date ? -1 : x.date > y.date ? 1 : 0)),
    problems: [...problems.values()],
    stoppedEarly,
    sessionFailure,
  };
}
