import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { scopeOf, type OutgoingMessage, type SendFailure, type SendResult, type Transport } from './transport.js';

/** Time, passed in so tests can run the rate limiter and backoff on a virtual clock. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => delay(ms, undefined, signal ? { signal } : {}).catch(() => undefined),
};

/** Waits shorter than this are not slept (see RateLimiter.take). */
const MIN_WAIT_MS = 1;

/**
 * A token bucket holding one token: sends are spaced 1/rate seconds apart on average, so N
 * messages take at least (N-1)/rate seconds, less under a millisecond. Reservations are taken
 * synchronously, so concurrent callers queue in call order without a lock.
 */
export class RateLimiter {
  private nextAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly ratePerSecond: number,
    private readonly clock: Clock,
  ) {}

  async take(signal?: AbortSignal): Promise<void> {
    const now = this.clock.now();
    const at = Math.max(now, this.nextAt);
    this.nextAt = at + 1000 / this.ratePerSecond;
    // Timers have millisecond steps: a shorter wait would sleep a whole one. The reservation
    // still moves on, so the rate holds: a caller that does not wait now lets the next wait longer.
    if (at - now >= MIN_WAIT_MS) await this.clock.sleep(at - now, signal);
  }
}

/** Waits for the next send slot: RateLimiter in one process, SharedRateLimiter across workers. */
export interface SendLimiter {
  take(signal?: AbortSignal): Promise<void>;
}

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A message is retried only while its next attempt falls within this long after its first. */
  windowMs?: number | undefined;
  /** Permanent session failures in a row that stop the run. */
  sessionFailureLimit?: number | undefined;
}

/** Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(attempt-1))]. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(random() * ceiling);
}

/**
 * - quota: the daily sending quota was reached
 * - signal: SIGTERM/SIGINT
 * - session: the relay or the configuration refuses every message (login, TLS, sender...)
 */
export type StopReason = 'quota' | 'signal' | 'session';

export interface DispatchResult {
  result: SendResult;
  attempts: number;
}

/**
 * Sends through a transport with the run's flow control: the rate limit before every attempt,
 * retries with backoff and jitter for transient failures within the retry window, none for
 * permanent ones, and a stop switch (daily quota, SIGTERM, a session that keeps failing) that
 * lets in-flight sends finish and starts no more.
 *
 * Session-scope failures (see FailureStage) are the relay's or the configuration's, not the
 * recipient's: after `sessionFailureLimit` permanent ones in a row, or a transient one that
 * outlasts the retry window, the run stops and everyone unsent stays pending.
 */
export class Dispatcher {
  private readonly controller = new AbortController();
  private reason: StopReason | null = null;
  private sessionFailuresInARow = 0;
  private stoppingFailure: SendFailure | null = null;

  constructor(
    private readonly transport: Transport,
    private readonly limiter: SendLimiter,
    private readonly policy: RetryPolicy,
    private readonly clock: Clock = systemClock,
    private readonly random: () => number = Math.random,
  ) {
    // Every send in flight waits on this signal (rate limit, backoff): far more than the default 10 listeners.
    setMaxListeners(0, this.controller.signal);
  }

  get stopReason(): StopReason | null {
    return this.reason;
  }

  /** The session failure that stopped the run (the server's reply and what to check). */
  get sessionFailure(): SendFailure | null {
    return this.stoppingFailure;
  }

  stop(reason: StopReason, failure?: SendFailure): void {
    if (!this.reason && failure) this.stoppingFailure = failure;
    this.reason ??= reason;
    this.controller.abort();
  }

  async send(message: OutgoingMessage): Promise<DispatchResult> {
    let result: SendResult = { ok: false, kind: 'transient', stage: 'connection', reason: 'not attempted: the run was stopping' };
    const firstAt = this.clock.now();
    const windowMs = this.policy.windowMs ?? Number.POSITIVE_INFINITY;
    const limit = this.policy.sessionFailureLimit ?? 3;
    for (let attempt = 1; ; attempt++) {
      if (this.reason) return { result, attempts: attempt - 1 };
      await this.limiter.take(this.controller.signal);
      if (this.reason) return { result, attempts: attempt - 1 };
      result = await this.transport.send(message);
      if (result.ok) {
        this.sessionFailuresInARow = 0;
        return { result, attempts: attempt };
      }
      if (result.kind === 'quota') {
        this.stop('quota');
        return { result, attempts: attempt };
      }
      const session = scopeOf(result.stage) === 'session';
      if (!session) this.sessionFailuresInARow = 0;
      if (result.kind === 'permanent') {
        if (session && ++this.sessionFailuresInARow >= limit) this.stop('session', result);
        return { result, attempts: attempt };
      }
      const wait = backoffDelay(attempt, this.policy, this.random);
      if (attempt >= this.policy.maxAttempts || this.clock.now() + wait - firstAt > windowMs) {
        // The relay stayed unusable for the whole window: the rest would wait the same way.
        if (session) this.stop('session', result);
        return { result, attempts: attempt };
      }
      await this.clock.sleep(wait, this.controller.signal);
    }
  }
}

/** The run's flow control from the `delivery` config section. */
export function dispatcherFor(
  transport: Transport,
  delivery: {
    ratePerSecond: number;
    maxAttempts: number;
    retryBaseDelayMs: number;
    maxRetryDelayMs: number;
    retryWindowMs: number;
    sessionFailureLimit: number;
  },
  limiter: SendLimiter = new RateLimiter(delivery.ratePerSecond, systemClock),
): Dispatcher {
  return new Dispatcher(transport, limiter, {
    maxAttempts: delivery.maxAttempts,
    baseDelayMs: delivery.retryBaseDelayMs,
    maxDelayMs: delivery.maxRetryDelayMs,
    windowMs: delivery.retryWindowMs,
    sessionFailureLimit: delivery.sessionFailureLimit,
  });
}
