import { SingleBar } from 'cli-progress';
import pino from 'pino';
import type { Outcome } from '../run/deliver.js';

export interface Progress {
  planned(count: number): void;
  outcome(outcome: Outcome): void;
  stop(): void;
}

/** Structured JSON lines on stderr, for cron, systemd and CI logs. */
export const logger = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));

/** How often the log lines come when not on a terminal. */
export const PROGRESS_EVERY_MS = 5_000;

/**
 * A progress bar (sent, failed, remaining, rate) on a terminal; otherwise a structured log
 * line every few seconds, so long runs show life either way: on a timer, not per outcome, so a
 * pass that waits (a relay down, retries backing off) still says where it stands.
 */
export function createProgress(interactive: boolean, log: (fields: Record<string, number>, msg: string) => void = (fields, msg) => logger.info(fields, msg)): Progress {
  const counts = { planned: 0, sent: 0, failed: 0, skipped: 0, pending: 0 };
  const started = Date.now();
  const done = () => counts.sent + counts.failed + counts.pending;
  // Beside other workers a sender may take more than was queued when it joined: never below 0.
  const remaining = () => Math.max(0, counts.planned - done());
  const rate = () => counts.sent / Math.max(0.001, (Date.now() - started) / 1000);

  if (interactive) {
    const bar = new SingleBar({
      format: ' {bar} {value}/{total} | sent {sent} | failed {failed} | remaining {remaining} | {rate}/s',
      hideCursor: true,
      stream: process.stderr,
      clearOnComplete: false,
    });
    let startedBar = false;
    const payload = () => ({ sent: counts.sent, failed: counts.failed, remaining: remaining(), rate: rate().toFixed(1) });
    return {
      planned(n) {
        counts.planned += n;
        if (!startedBar && counts.planned > 0) {
          bar.start(counts.planned, done(), payload());
          startedBar = true;
        } else bar.setTotal(counts.planned);
      },
      outcome(o) {
        if (o === 'skipped') return;
        counts[o]++;
        if (startedBar) bar.update(done(), payload());
      },
      stop() {
        if (startedBar) bar.stop();
      },
    };
  }

  const line = (msg: string) => log({ sent: counts.sent, failed: counts.failed, pending: counts.pending, remaining: remaining(), ratePerSecond: Number(rate().toFixed(2)) }, msg);
  let timer: NodeJS.Timeout | null = null;
  return {
    planned(n) {
      counts.planned += n;
      if (n > 0) log({ messages: n }, 'section planned');
      // unref: the timer never keeps a finished process alive.
      if (counts.planned > 0 && !timer) timer = setInterval(() => line('progress'), PROGRESS_EVERY_MS).unref();
    },
    outcome(o) {
      if (o !== 'skipped') counts[o]++;
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
      if (counts.planned > 0) line('delivery finished');
    },
  };
}
