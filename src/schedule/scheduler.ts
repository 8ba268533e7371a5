import { CronExpressionParser } from 'cron-parser';
import cron, { type ScheduledTask } from 'node-cron';
import { ConfigError } from '../errors.js';

export type TickOutcome = 'ran' | 'skipped-overlap' | 'failed';
export type Trigger = 'scheduled' | 'catch-up' | 'retry' | 'interval';

/** What a pass reports: a log line, and whether a due section is still unfinished. */
export type PassReport = string | { summary: string; unfinished: boolean };

export interface SchedulerDeps {
  /** The list's schedule: its ticks start the day's send (and its retry window and catch-up). */
  cron: string;
  /** Passes in between, every this many minutes (readers' own hours); 0 or absent: none. */
  tickMinutes?: number | undefined;
  timezone: string;
  /** One pass; resolves with a one-line summary for the log, throws when the pass failed. */
  pass: (trigger: Trigger) => Promise<PassReport>;
  /**
   * While a pass leaves a section unfinished (or fails), run again every `intervalMs` until
   * `forMs` after the day's tick, instead of waiting for the next tick.
   */
  retry?: { intervalMs: number; forMs: number } | undefined;
  /** Timers, passed in for tests; returns a cancel function. */
  setTimer?: ((fn: () => void, ms: number) => () => void) | undefined;
  /** When the last pass started (from the ledger), or null. */
  lastRunAt: () => Promise<Date | null>;
  now: () => Date;
  log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

export function validateCron(expression: string, key = 'schedule.cron'): void {
  if (!cron.validate(expression)) {
    throw new ConfigError(`${key}: "${expression}" is not a valid cron expression`, 'Use five fields: minute hour day month weekday, e.g. "0 7 * * *".');
  }
}

/** The list's hour for readers without their own: the hour of the cron's (first) daily tick. */
export function listHourOf(expression: string): number {
  const hours = CronExpressionParser.parse(expression).fields.hour.values;
  return Number(hours[0] ?? 0);
}

/** The latest tick of `expression` at or before `now`, in `timezone`. */
export function previousTick(expression: string, timezone: string, now: Date): Date {
  const parsed = CronExpressionParser.parse(expression, { currentDate: new Date(now.getTime() + 1), tz: timezone });
  return parsed.prev().toDate();
}

/**
 * Runs a pass on a node-cron schedule in an IANA zone. Passes never overlap (a tick during a
 * pass is skipped and logged); a failed pass is logged and the scheduler keeps going; on start
 * a tick missed while it was down (the last pass started before the latest tick) runs at once.
 */
export class Scheduler {
  private task: ScheduledTask | null = null;
  private interval: ScheduledTask | null = null;
  private running: Promise<TickOutcome> | null = null;
  private cancelRetry: (() => void) | null = null;
  private stopped = false;

  constructor(private readonly deps: SchedulerDeps) {
    validateCron(deps.cron);
  }

  async tick(trigger: Trigger = 'scheduled'): Promise<TickOutcome> {
    if (this.running) {
      // An interval tick during a pass (the cron's, or a long send) has nothing to add.
      if (trigger !== 'interval') this.deps.log('warn', 'tick skipped: the previous pass is still running', { trigger });
      return 'skipped-overlap';
    }
    // An interval pass does the retry's work as well; a pending retry stays for the cron's ticks.
    if (trigger !== 'interval') {
      this.cancelRetry?.();
      this.cancelRetry = null;
    }
    const pass = (async (): Promise<TickOutcome> => {
      const started = this.deps.now();
      try {
        const report = await this.deps.pass(trigger);
        const summary = typeof report === 'string' ? report : report.summary;
        this.deps.log('info', summary, { trigger, seconds: (this.deps.now().getTime() - started.getTime()) / 1000 });
        // Interval passes come back on their own; the retry is for the cron's ticks.
        if (typeof report !== 'string' && report.unfinished && trigger !== 'interval') this.scheduleRetry();
        return 'ran';
      } catch (err) {
        this.deps.log('error', `pass failed: ${(err as Error).message}`, { trigger });
        this.scheduleRetry();
        return 'failed';
      }
    })();
    this.running = pass;
    try {
      return await pass;
    } finally {
      this.running = null;
    }
  }

  /** Another pass after the retry interval, if the day's retry window is still open. */
  private scheduleRetry(): void {
    const retry = this.deps.retry;
    if (!retry || this.stopped || this.cancelRetry) return;
    const now = this.deps.now();
    const closes = previousTick(this.deps.cron, this.deps.timezone, now).getTime() + retry.forMs;
    if (now.getTime() + retry.intervalMs > closes) {
      this.deps.log('warn', "a section is still unfinished and the day's retry window has closed; the next tick tries again", {
        windowClosed: new Date(closes).toISOString(),
      });
      return;
    }
    const at = new Date(now.getTime() + retry.intervalMs);
    this.deps.log('info', 'a section is unfinished: trying again at the retry interval', { retryAt: at.toISOString() });
    const setTimer =
      this.deps.setTimer ??
      ((fn, ms) => {
        const timer = setTimeout(fn, ms);
        timer.unref?.();
        return () => clearTimeout(timer);
      });
    this.cancelRetry = setTimer(() => {
      this.cancelRetry = null;
      void this.tick('retry');
    }, retry.intervalMs);
  }

  /** The tick that was missed while nothing was running, if any. */
  async missedTick(): Promise<Date | null> {
    const latest = previousTick(this.deps.cron, this.deps.timezone, this.deps.now());
    const last = await this.deps.lastRunAt();
    return last === null || last < latest ? latest : null;
  }

  async start(): Promise<void> {
    // Looked up before the ticks start, so the catch-up runs first: a tick that fires while it
    // runs is skipped as an overlap instead of the catch-up being skipped behind it.
    const missed = await this.missedTick();
    this.task = cron.schedule(this.deps.cron, () => this.tick('scheduled'), {
      timezone: this.deps.timezone,
      noOverlap: true,
      name: 'digest-mailer',
      // A tick that fires late (a busy or suspended machine) still runs, up to 5 minutes late;
      // one node-cron gives up on is run as a catch-up rather than silently skipped.
      missedExecutionTolerance: 300_000,
      suppressMissedWarning: true,
    });
    this.task.on('execution:missed', (context) => {
      this.deps.log('warn', 'a tick fired late; running it now', { tick: context.date.toISOString() });
      void this.tick('catch-up');
    });
    const every = this.deps.tickMinutes ?? 0;
    if (every > 0) {
      this.interval = cron.schedule(`*/${every} * * * *`, () => this.tick('interval'), { timezone: this.deps.timezone, noOverlap: true, name: 'digest-mailer-interval' });
    }
    const next = this.task.getNextRun();
    this.deps.log('info', 'scheduler started', { cron: this.deps.cron, timezone: this.deps.timezone, tickMinutes: every, nextRun: next?.toISOString() });
    if (missed) {
      this.deps.log('info', 'catching up a tick missed while the scheduler was down', { missed: missed.toISOString() });
      await this.tick('catch-up');
    }
  }

  /** Stops ticking and waits for a pass in progress (the caller asks it to stop first). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRetry?.();
    this.cancelRetry = null;
    await this.task?.destroy();
    await this.interval?.destroy();
    this.task = null;
    this.interval = null;
    await this.running;
  }
}
