import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { isDeadLocalOwner, newOwnerId } from '../run/owner.js';
import { reasonGroup } from '../run/reasons.js';
import type { Store } from '../store/store.js';
import type { SubscribeIntakeJob, SubscribeIntakeRequest } from '../store/types.js';

/** What the drainer does with one request (SubscribeFlow.handle): throws to have it retried. */
export type IntakeHandler = (request: SubscribeIntakeRequest) => Promise<{ sent: Promise<boolean> } | null>;

export interface IntakeLog {
  (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
}

export interface DrainerOptions {
  store: Store;
  handle: IntakeHandler;
  /** Background work the server's shutdown and `drain()` wait for (ConfirmationMailer.track). */
  track: (job: Promise<void>) => void;
  log: IntakeLog;
  now?: () => Date;
  /** Claims per row before it is given up (kept with failed_at, reported). */
  maxAttempts?: number;
  /** Wait before the second attempt; doubles each time, at most `maxRetryDelayMs`. */
  retryBaseDelayMs?: number;
  maxRetryDelayMs?: number;
  /**
   * How long a claimed row is held for this process: past it another drainer (or this one's
   * next start, if this process is gone from another host) takes it over. Covers the
   * transport's retries of its email.
   */
  claimTtlMs?: number;
  /** Emails handed over and not settled yet, at most (the drainer waits before claiming more). */
  maxSending?: number;
  /** Looks for due rows this often (retries, rows of other processes), besides every new request. */
  pollMs?: number;
  /** Called every poll (SubscribeFlow.housekeep: expired pending subscribers, intake rows past retention). */
  onPoll?: () => void;
  /**
   * The server's requests in flight: before each row the drainer waits until none has been
   * for a moment (RequestGauge.quiet), at most `maxDeferMs`, so a row's work (about 4 ms of
   * composing on the one event loop) runs between bursts of requests, not inside one.
   */
  requests?: RequestGauge;
  /** Longest wait for a quiet moment per row (default 100 ms): under steady traffic rows still go at ten a second or more. */
  maxDeferMs?: number;
}

/**
 * Counts the HTTP requests a server is answering (enter on arrival, leave when the response
 * closes) so background work can wait for a quiet moment instead of competing with them.
 */
export class RequestGauge {
  private active = 0;
  private lastChange = Number.NEGATIVE_INFINITY;

  enter(): void {
    this.active++;
    this.lastChange = performance.now();
  }

  leave(): void {
    this.active--;
    this.lastChange = performance.now();
  }

  get inFlight(): number {
    return this.active;
  }

  /**
   * Resolves once no request has been in flight for `settleMs` (a burst's next request may be
   * on its way: one response closing does not mean the burst is over), or after `maxMs` at
   * the latest, so the waiter is never starved. Polls on a timer only while someone waits.
   */
  async quiet(maxMs: number, settleMs = 2): Promise<void> {
    const deadline = performance.now() + maxMs;
    for (;;) {
      const at = performance.now();
      if (at >= deadline) return;
      const idleFor = this.active === 0 ? at - this.lastChange : 0;
      if (this.active === 0 && idleFor >= settleMs) return;
      await sleep(Math.max(1, Math.min(deadline - at, settleMs - idleFor)));
    }
  }
}

/**
 * Drains the subscribe intake (table subscribe_intake): the form's answer wrote one row and
 * kicked the drainer, which takes due rows one at a time, oldest first, and yields to the
 * event loop between rows, so a preference change, an unsubscribe or a confirmation never
 * waits behind more than one subscribe's work; given the server's RequestGauge it also takes
 * each row only once no request has been in flight for a moment (at most `maxDeferMs` later),
 * so that work falls between bursts of requests. A row is deleted once its email was handed over
 * and settled (sent, or given up by the transport's own retries), so a crash after the answer
 * loses nothing: the next start takes the dead process's claims back and drains them. A row
 * whose work throws is retried later (backoff) without holding up the rows behind it, and after
 * `maxAttempts` claims it is kept as failed and reported in the log.
 */
export class IntakeDrainer {
  readonly owner = newOwnerId();
  private readonly now: () => Date;
  private readonly maxAttempts: number;
  private readonly retryBaseDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly claimTtlMs: number;
  private readonly maxSending: number;
  private readonly maxDeferMs: number;
  private readonly sending = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private running: Promise<void> | null = null;
  private wanted = false;
  private stopped = false;
  private started = false;
  private poller: NodeJS.Timeout | null = null;

  constructor(private readonly options: DrainerOptions) {
    this.now = options.now ?? (() => new Date());
    this.maxAttempts = options.maxAttempts ?? 5;
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 2_000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 300_000;
    this.claimTtlMs = options.claimTtlMs ?? 15 * 60_000;
    this.maxSending = options.maxSending ?? 32;
    this.maxDeferMs = options.maxDeferMs ?? 100;
  }

  /** Takes back the claims of dead local processes, drains what is due, then keeps polling. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const released = await this.options.store.releaseSubscribeIntake({ isDead: isDeadLocalOwner });
    const { queued, failed } = await this.options.store.subscribeIntakeCounts();
    if (released || queued) this.options.log('info', 'subscribe intake: draining requests left by an earlier start', { queued, released });
    if (failed) this.options.log('error', 'subscribe intake: requests given up after repeated failures (digest-mailer db status lists them; db intake retry or discard)', { failed });
    const pollMs = this.options.pollMs ?? 30_000;
    this.poller = setInterval(() => {
      this.options.onPoll?.();
      this.kick();
    }, pollMs);
    this.poller.unref();
    this.kick();
  }

  /** Asks for a pass over the due rows; starts one on the next turn of the event loop (after the answer went out). */
  kick(): void {
    if (this.stopped || !this.started) return;
    this.wanted = true;
    if (this.running) return;
    const run = (async () => {
      await nextTurn();
      await this.drain();
    })();
    this.running = run
      .catch((err: unknown) => this.options.log('error', 'subscribe intake: pass failed', { error: (err as Error).message }))
      .finally(() => {
        this.running = null;
        if (this.wanted) this.kick();
      });
    this.options.track(this.running);
  }

  private async drain(): Promise<void> {
    while (this.wanted && !this.stopped) {
      this.wanted = false;
      for (;;) {
        while (this.sending.size >= this.maxSending) await Promise.race(this.sending);
        // Interactive requests first: a row waits (boundedly) for a moment with none in flight.
        await this.options.requests?.quiet(this.maxDeferMs);
        if (this.stopped) return;
        const job = await this.options.store.claimSubscribeIntake(this.owner, this.now(), this.claimTtlMs);
        if (!job) break;
        await this.process(job);
        // One job, then whatever else is waiting on the event loop (interactive requests).
        await nextTurn();
      }
    }
  }

  private async process(job: SubscribeIntakeJob): Promise<void> {
    const { store } = this.options;
    if (job.attempts > this.maxAttempts) {
      // Claimed that often without an outcome (e.g. the process died during it each time).
      await this.giveUp(job, 'claimed repeatedly without finishing');
      return;
    }
    let handed: { sent: Promise<boolean> } | null;
    try {
      handed = await this.options.handle(job.request);
    } catch (err) {
      await this.failed(job, (err as Error).message ?? String(err));
      return;
    }
    if (!handed) {
      await store.completeSubscribeIntake(job.id);
      return;
    }
    const settle = handed.sent.then(async (ok) => {
      // Stopping abandoned it (not a verdict on the address): leave it for the next start.
      if (!ok && this.stopped) await store.releaseSubscribeIntake({ owner: this.owner });
      else await store.completeSubscribeIntake(job.id);
    });
    const tracked = settle
      .catch((err: unknown) => this.options.log('warn', 'subscribe intake: could not record a handled request (it may be handled again)', { intake: job.id, error: (err as Error).message }))
      .finally(() => this.sending.delete(tracked));
    this.sending.add(tracked);
    this.options.track(tracked);
  }

  private async failed(job: SubscribeIntakeJob, error: string): Promise<void> {
    if (job.attempts >= this.maxAttempts) return this.giveUp(job, error);
    const delay = Math.min(this.maxRetryDelayMs, this.retryBaseDelayMs * 2 ** (job.attempts - 1));
    const at = this.now();
    this.options.log('warn', 'subscribe intake: request failed, will retry', { intake: job.id, attempts: job.attempts, retryInMs: delay, error: reasonGroup(error) });
    await this.options.store
      .failSubscribeIntake(job.id, error, at.toISOString(), new Date(at.getTime() + delay).toISOString())
      .catch(() => undefined); // the claim expires instead
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.kick();
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }

  private async giveUp(job: SubscribeIntakeJob, error: string): Promise<void> {
    // The address is not logged (personal data), not even inside the error (an SMTP reply names
    // the recipient); the row keeps it for the operator.
    this.options.log('error', 'subscribe intake: request given up', { intake: job.id, attempts: job.attempts, error: reasonGroup(error) });
    await this.options.store.failSubscribeIntake(job.id, error, this.now().toISOString(), null).catch(() => undefined);
  }

  /** Stops claiming; rows in hand finish (or are released when their email is abandoned). */
  stop(): void {
    this.stopped = true;
    if (this.poller) clearInterval(this.poller);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Resolves when the current pass and every email it handed over have settled (tests). */
  async idle(): Promise<void> {
    while (this.running || this.sending.size) await Promise.all([this.running, ...this.sending]);
  }
}
