import { openAppStore } from '../../store/bootstrap.js';
import { executeRun } from '../../run/execute.js';
import { Scheduler } from '../../schedule/scheduler.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { logger } from '../progress.js';
import { linkSettings, loadConfigFrom } from '../shared.js';
import { exitCodeFor } from './run.js';
import type { Config } from '../../config/load.js';
import { LockBusyError } from '../../run/lock.js';

/** Builds the scheduler for a config: each tick is one `run` pass, logged as one line. */
export function schedulerFor(config: Config, onStopHandle: (stop: () => void) => void, now: () => Date = () => new Date()): Scheduler {
  return new Scheduler({
    cron: config.schedule.cron,
    tickMinutes: config.schedule.tickMinutes,
    timezone: config.schedule.timezone ?? config.timezone,
    now,
    lastRunAt: async () => {
      const store = await openAppStore(config);
      const at = await store.lastRunAt().finally(() => store.close());
      return at ? new Date(at) : null;
    },
    log: (level, msg, fields) => logger[level](fields ?? {}, msg),
    retry: { intervalMs: config.schedule.retryIntervalMinutes * 60_000, forMs: config.schedule.retryForHours * 3_600_000 },
    pass: async (trigger) => {
      try {
        const summary = await executeRun(config, { dryRun: false, backfill: false, scheduled: true }, { links: linkSettings, command: `schedule (${trigger})`, onStopHandle, now });
        const totals = summary.sections.reduce(
          (t, s) => ({ sent: t.sent + (s.counts?.sent ?? 0), failed: t.failed + (s.counts?.failed ?? 0), pending: t.pending + (s.counts?.pending ?? 0) }),
          { sent: 0, failed: 0, pending: 0 },
        );
        const sent = summary.sections.filter((s) => s.action === 'send').map((s) => s.date);
        // A daily quota does not reset within the day's window: that waits for the next tick.
        const unfinished = summary.stoppedEarly !== 'quota' && summary.sections.some((s) => s.action === 'send' && s.after === 'sending');
        const why = summary.sessionFailure ? `; stopped at the ${summary.sessionFailure.stage} stage: ${summary.sessionFailure.reason}` : '';
        return {
          summary: `run finished: sections ${sent.join(', ') || 'none due'}; ${totals.sent} sent, ${totals.failed} failed, ${totals.pending} pending; exit status ${exitCodeFor(summary)}${why}`,
          unfinished,
        };
      } catch (err) {
        if (err instanceof LockBusyError) return `run skipped: ${err.message}`;
        throw err;
      }
    },
  });
}

export async function scheduleCommand(globals: GlobalOptions): Promise<number> {
  const config = await loadConfigFrom(globals);
  let stopRun: (() => void) | null = null;
  const scheduler = schedulerFor(config, (stop) => (stopRun = stop));
  await new Promise<void>((resolve) => {
    const shutdown = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping the scheduler');
      stopRun?.();
      void scheduler.stop().then(resolve);
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
    void scheduler.start();
  });
  return EXIT.ok;
}
