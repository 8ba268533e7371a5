import { mailIssueId } from '../../run/deliver.js';
import { relative, resolve } from 'node:path';
import { executeRun } from '../../run/execute.js';
import { openAppStore } from '../../store/bootstrap.js';
import type { RunSummary } from '../../run/run.js';
import { mergeSummaries, startWorkers, type WorkerExit } from '../../run/workers.js';
import { UserError } from '../../errors.js';
import type { Config } from '../../config/load.js';
import { formatRunSummary } from '../format.js';
import { EXIT, worstExitCode, type GlobalOptions } from '../exit.js';
import { createProgress, logger } from '../progress.js';
import { linkSettings, loadConfigFrom, printProblems } from '../shared.js';

export interface RunFlags {
  dryRun: boolean;
  backfill: boolean;
  section?: string;
  /** Start this many local worker processes that send the pass together (PostgreSQL). */
  workers?: number;
  /** A worker of `run --workers N`: print the summary as one JSON line and nothing else on stdout. */
  summaryJson?: boolean;
}

/** The documented exit code of a finished pass. */
export function exitCodeFor(summary: RunSummary): number {
  if (summary.stoppedEarly === 'session') return EXIT.session;
  if (summary.stoppedEarly) return EXIT.incomplete;
  const failed = summary.sections.some((s) => s.error || (s.counts?.failed ?? 0) > 0);
  return failed || summary.problems.length > 0 ? EXIT.partial : EXIT.ok;
}

/** While a run is going: SIGTERM and Ctrl-C stop it cleanly through `stop`. */
function onStopSignals(stop: () => void): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\ndigest-mailer: ${signal} received; finishing the messages in flight, then stopping (the rest stays pending).`);
    stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

function printSummary(config: Config, summary: RunSummary): void {
  printProblems(summary.problems);
  console.log(`digest-mailer run: today is ${summary.today} (${config.timezone}), transport ${config.transport.type}`);
  console.log(formatRunSummary(summary));
  const sentTo = summary.sections.filter((s) => (s.counts?.sent ?? 0) > 0).map((s) => s.date);
  if (config.transport.type === 'outbox' && sentTo.length > 0) {
    const dir = relative(process.cwd(), config.paths.outbox) || '.';
    // The .html copies are written only with transport.htmlCopy; do not send the reader looking for them.
    const html = config.transport.htmlCopy ? '; .html in a browser' : '; set transport.htmlCopy for a .html copy to open in a browser';
    console.log(`Outbox: ${sentTo.map((d) => `${dir}/${mailIssueId(d)}/`).join(', ')} (.eml files open in any mail client${html})`);
  }
}

export async function runCommand(globals: GlobalOptions, flags: RunFlags): Promise<number> {
  const config = await loadConfigFrom(globals);
  if ((flags.workers ?? 1) > 1) return runWorkersCommand(globals, config, flags);
  const progress = createProgress(Boolean(process.stderr.isTTY) && !flags.dryRun);
  let stop: (() => void) | null = null;
  const offSignals = onStopSignals(() => stop?.());
  let summary: RunSummary;
  try {
    summary = await executeRun(
      config,
      { dryRun: flags.dryRun, backfill: flags.backfill, only: flags.section },
      {
        links: linkSettings,
        command: `run${flags.section ? ` --section ${flags.section}` : ''}${flags.backfill ? ' --backfill' : ''}`,
        onOutcome: (o) => progress.outcome(o),
        onPlanned: (n) => progress.planned(n),
        onWarning: (message) => logger.warn(message),
        onStopHandle: (fn) => (stop = fn),
      },
    );
  } finally {
    progress.stop();
    offSignals();
  }
  if (flags.summaryJson) console.log(JSON.stringify(summary));
  else printSummary(config, summary);
  return exitCodeFor(summary);
}

/** How a worker ended, for the closing lines of `run --workers N`. */
function workerLine(w: WorkerExit): string {
  const how = w.signal ? `killed by ${w.signal}` : `exit ${w.code}`;
  const sent = w.summary?.sections.reduce((n, s) => n + (s.counts?.sent ?? 0), 0);
  return `  worker ${w.worker} (pid ${w.pid ?? '?'}): ${how}${sent !== undefined ? `, sent ${sent}` : ', no summary'}`;
}

/**
 * `run --workers N`: N local processes of the same pass on PostgreSQL. One plans each
 * section, all send (claims, shared rate); their log lines are passed on tagged with the
 * worker's number, SIGTERM and Ctrl-C go to every worker, and the exit code is the worst.
 */
async function runWorkersCommand(globals: GlobalOptions, config: Config, flags: RunFlags): Promise<number> {
  const count = flags.workers!;
  if (config.store.engine !== 'postgres') {
    throw new UserError(
      `run --workers ${count} needs PostgreSQL (store.engine "postgres"); this config uses SQLite`,
      'SQLite has one writer, so a second sender would only wait on the first: run without --workers, or move the store to PostgreSQL (README "Several workers").',
    );
  }
  if (flags.dryRun) throw new UserError('--dry-run and --workers go separately: a dry run sends nothing, so one process is enough');
  // A new database is seeded (and checked for pending migrations) once, here, not by N workers.
  await (await openAppStore(config)).close();
  const args = [
    '--config', resolve(globals.config),
    ...(globals.verbose ? ['--verbose'] : []),
    'run', '--summary-json',
    ...(flags.backfill ? ['--backfill'] : []),
    ...(flags.section ? ['--section', flags.section] : []),
  ];
  const interactive = Boolean(process.stderr.isTTY);
  const pool = startWorkers({
    count,
    args,
    onStart: (worker, pid) => logger.info({ worker, pid }, 'worker started'),
    onLine: (worker, line) => {
      // Workers log JSON lines (their stderr is not a terminal): tag them with the worker.
      let fields: Record<string, unknown> | null = null;
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) fields = parsed as Record<string, unknown>;
      } catch {
        /* a plain message */
      }
      if (!fields) process.stderr.write(`[worker ${worker}] ${line}\n`);
      else if (interactive) {
        const { level: _l, time: _t, msg, ...rest } = fields;
        process.stderr.write(`[worker ${worker}] ${String(msg ?? '')} ${Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')}\n`);
      } else process.stderr.write(`${JSON.stringify({ ...fields, worker })}\n`);
    },
  });
  const offSignals = onStopSignals(() => pool.stop('SIGTERM'));
  let exits: WorkerExit[];
  try {
    exits = await pool.exited;
  } finally {
    offSignals();
  }
  const merged = mergeSummaries(exits.flatMap((w) => (w.summary ? [w.summary] : [])));
  if (merged) printSummary(config, merged);
  console.log(`Workers: ${count}`);
  for (const w of exits) console.log(workerLine(w));
  if (exits.some((w) => w.signal)) {
    console.log('A worker was killed: the others took over its claims; what it had in flight may have gone out twice, with the same Message-ID. Anything still pending goes out with the next run.');
  }
  // A worker killed by a signal stopped early: what it left is the next run's (exit 4).
  return worstExitCode(exits.map((w) => (w.signal ? EXIT.incomplete : (w.code ?? EXIT.error))));
}
