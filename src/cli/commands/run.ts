import { relative } from 'node:path';
import { executeRun } from '../../run/execute.js';
import type { RunSummary } from '../../run/run.js';
import { formatRunSummary } from '../format.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { createProgress } from '../progress.js';
import { linkSettings, loadConfigFrom, printProblems } from '../shared.js';

export interface RunFlags {
  dryRun: boolean;
  backfill: boolean;
  section?: string;
}

/** The documented exit code of a finished pass. */
export function exitCodeFor(summary: RunSummary): number {
  if (summary.stoppedEarly === 'session') return EXIT.session;
  if (summary.stoppedEarly) return EXIT.incomplete;
  const failed = summary.sections.some((s) => s.error || (s.counts?.failed ?? 0) > 0);
  return failed || summary.problems.length > 0 ? EXIT.partial : EXIT.ok;
}

export async function runCommand(globals: GlobalOptions, flags: RunFlags): Promise<number> {
  const config = await loadConfigFrom(globals);
  const progress = createProgress(Boolean(process.stderr.isTTY) && !flags.dryRun);
  let stop: (() => void) | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\ndigest-mailer: ${signal} received; finishing the messages in flight, then stopping (the rest stays pending).`);
    stop?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
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
        onStopHandle: (fn) => (stop = fn),
      },
    );
  } finally {
    progress.stop();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  printProblems(summary.problems);
  console.log(`digest-mailer run: today is ${summary.today} (${config.timezone}), transport ${config.transport.type}`);
  console.log(formatRunSummary(summary));
  const sentTo = summary.sections.filter((s) => (s.counts?.sent ?? 0) > 0).map((s) => s.date);
  if (config.transport.type === 'outbox' && sentTo.length > 0) {
    const dir = relative(process.cwd(), config.paths.outbox) || '.';
    console.log(`Outbox: ${sentTo.map((d) => `${dir}/${d}/`).join(', ')} (.eml files open in any mail client; .html in a browser)`);
  }
  return exitCodeFor(summary);
}
