import { setTimeout as delay } from 'node:timers/promises';
import type { OutgoingMessage, SendResult, Transport } from './transport.js';

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

/**
 * A token bucket holding one token: sends are spaced at least 1/rate seconds apart, so N
 * messages take at least (N-1)/rate seconds. Reservations are taken synchronously, so
 * concurrent callers queue in call order without a lock.
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
    if (at > now) await this.clock.sleep(at - now, signal);
  }
}

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(attempt-1))]. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(random() * ceiling);
}

export type StopReason = 'quota' | 'signal';

export interface DispatchResult {
  result: SendResult;
  attempts: number;
}

/**
 * Sends through a transport with the run's flow control: the rate limit before every attempt,
 * retries with backoff and jitter for transient failures, none for permanent ones, and a stop
 * switch (daily quota reached, SIGTERM) that lets in-flight sends finish and starts no more.
 */
export class Dispatcher {
  private readonly controller = new AbortController();
  private reason: StopReason | null = null;

  constructor(
    private readonly transport: Transport,
    private readonly limiter: RateLimiter,
    private readonly policy: RetryPolicy,
    private readonly clock: Clock = systemClock,
    private readonly random: () => number = Math.random,
  ) {}

  get stopReason(): StopReason | null {
    return this.reason;
  }

  stop(reason: StopReason): void {
    this.reason ??= reason;
    this.controller.abort();
  }

  async send(message: OutgoingMessage): Promise<DispatchResult> {
    let result: SendResult = { ok: false, kind: 'transient', reason: 'not attempted: the run was stopping' };
    for (let attempt = 1; attempt <= this.policy.maxAttempts; attempt++) {
      if (this.reason) return { result, attempts: attempt - 1 };
      await this.limiter.take(this.controller.signal);
      if (this.reason) return { result, attempts: attempt - 1 };
      result = await this.transport.send(message);
      if (result.ok || result.kind === 'permanent') return { result, attempts: attempt };
      if (result.kind === 'quota') {
        this.stop('quota');
        return { result, attempts: attempt };
      }
      if (attempt < this.policy.maxAttempts) {
        await this.clock.sleep(backoffDelay(attempt, this.policy, this.random), this.controller.signal);
      }
    }
    return { result, attempts: this.policy.maxAttempts };
  }
}

/** The run's flow control from the `delivery` config section. */
export function dispatcherFor(
  transport: Transport,
  delivery: { ratePerSecond: number; maxAttempts: number; retryBaseDelayMs: number; maxRetryDelayMs: number },
): Dispatcher {
  return new Dispatcher(transport, new RateLimiter(delivery.ratePerSecond, systemClock), {
    maxAttempts: delivery.maxAttempts,
    baseDelayMs: delivery.retryBaseDelayMs,
    maxDelayMs: delivery.maxRetryDelayMs,
  });
}
