import { describe, expect, it } from 'vitest';
import { Dispatcher, RateLimiter, backoffDelay, type Clock } from '../../src/mail/flow.js';
import type { OutgoingMessage, SendResult, Transport } from '../../src/mail/transport.js';
import { classifySmtpError } from '../../src/mail/transports/smtp.js';
import { classifySesError } from '../../src/mail/transports/ses.js';

/**
 * Time that moves only when someone sleeps: the earliest pending sleep fires next, after
 * everything already runnable has run. Rate and backoff checks without wall-clock flakiness.
 */
class VirtualClock implements Clock {
  t = 0;
  sleeps: number[] = [];
  private timers: { at: number; resolve: () => void }[] = [];
  private scheduled = false;
  now = () => this.t;
  sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      this.sleeps.push(ms);
      this.timers.push({ at: this.t + ms, resolve });
      this.fireSoon();
    });
  private fireSoon() {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers.shift();
      if (!next) return;
      this.t = Math.max(this.t, next.at);
      next.resolve();
      if (this.timers.length) this.fireSoon();
    });
  }
}

/** A scripted transport (unit tests only): answers in order, then succeeds. */
class ScriptedTransport implements Transport {
  readonly name = 'scripted';
  sentAt: number[] = [];
  constructor(
    private readonly clock: Clock,
    private readonly script: SendResult[] = [],
  ) {}
  async send(): Promise<SendResult> {
    this.sentAt.push(this.clock.now());
    return this.script.shift() ?? { ok: true };
  }
  async close() {}
}

const message = { sectionDate: 'd', recipient: 'r@example.org', messageId: '<m>', raw: Buffer.from('x'), html: '', envelope: { from: 'f', to: 't' } } satisfies OutgoingMessage;
const policy = { maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 8000 };

describe('rate limit', () => {
  it('N messages at R per second take at least (N-1)/R seconds, even with concurrent senders', async () => {
    const clock = new VirtualClock();
    const transport = new ScriptedTransport(clock);
    const dispatcher = new Dispatcher(transport, new RateLimiter(5, clock), policy, clock);
    const N = 20;
    await Promise.all(Array.from({ length: N }, () => dispatcher.send(message)));
    expect(transport.sentAt).toHaveLength(N);
    const elapsed = Math.max(...transport.sentAt) - Math.min(...transport.sentAt);
    expect(elapsed).toBeGreaterThanOrEqual(((N - 1) / 5) * 1000);
    const sorted = [...transport.sentAt].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 1]!).toBeGreaterThanOrEqual(200);
  });
});

describe('retries', () => {
  it('retries transient failures with growing, jittered backoff until delivered', async () => {
    const clock = new VirtualClock();
    const transport = new ScriptedTransport(clock, [
      { ok: false, kind: 'transient', reason: '421' },
      { ok: false, kind: 'transient', reason: '421' },
    ]);
    const dispatcher = new Dispatcher(transport, new RateLimiter(1000, clock), policy, clock, () => 1);
    const { result, attempts } = await dispatcher.send(message);
    expect(result.ok).toBe(true);
    expect(attempts).toBe(3);
    expect(clock.sleeps.filter((ms) => ms >= 1000)).toEqual([1000, 2000]);
  });

  it('does not retry a permanent failure', async () => {
    const clock = new VirtualClock();
    const transport = new ScriptedTransport(clock, [{ ok: false, kind: 'permanent', reason: '550' }]);
    const { result, attempts } = await new Dispatcher(transport, new RateLimiter(1000, clock), policy, clock).send(message);
    expect(result).toMatchObject({ ok: false, kind: 'permanent' });
    expect(attempts).toBe(1);
  });

  it('gives up after maxAttempts transient failures, leaving it retryable', async () => {
    const clock = new VirtualClock();
    const fail: SendResult = { ok: false, kind: 'transient', reason: 'timeout' };
    const transport = new ScriptedTransport(clock, [fail, fail, fail, fail, fail]);
    const { result, attempts } = await new Dispatcher(transport, new RateLimiter(1000, clock), policy, clock).send(message);
    expect(result).toMatchObject({ ok: false, kind: 'transient' });
    expect(attempts).toBe(4);
  });

  it('stops everything at the daily quota: no further attempts for anyone', async () => {
    const clock = new VirtualClock();
    const transport = new ScriptedTransport(clock, [{ ok: false, kind: 'quota', reason: 'Daily message quota exceeded.' }]);
    const dispatcher = new Dispatcher(transport, new RateLimiter(1000, clock), policy, clock);
    expect((await dispatcher.send(message)).result).toMatchObject({ kind: 'quota' });
    expect(dispatcher.stopReason).toBe('quota');
    const later = await dispatcher.send(message);
    expect(later.attempts).toBe(0);
    expect(transport.sentAt).toHaveLength(1);
  });

  it('keeps backoff within [0, min(max, base * 2^(n-1))]', () => {
    for (let attempt = 1; attempt <= 8; attempt++) {
      const ceiling = Math.min(8000, 1000 * 2 ** (attempt - 1));
      expect(backoffDelay(attempt, policy, () => 0)).toBe(0);
      expect(backoffDelay(attempt, policy, () => 0.999999)).toBeLessThanOrEqual(ceiling);
      expect(backoffDelay(attempt, policy, () => 0.5)).toBe(Math.round(ceiling / 2));
    }
  });
});

describe('failure classification', () => {
  it('SMTP: 4xx and connection errors are transient, 5xx permanent', () => {
    expect(classifySmtpError({ responseCode: 421 })).toBe('transient');
    expect(classifySmtpError({ responseCode: 452 })).toBe('transient');
    expect(classifySmtpError({ responseCode: 550 })).toBe('permanent');
    expect(classifySmtpError({ responseCode: 554 })).toBe('permanent');
    expect(classifySmtpError({ code: 'ECONNECTION' })).toBe('transient');
    expect(classifySmtpError({ code: 'ETIMEDOUT' })).toBe('transient');
    expect(classifySmtpError({ code: 'EENVELOPE' })).toBe('permanent');
  });

  it('SES: throttling and 5xx retried, quota stops, rejections final', () => {
    expect(classifySesError({ name: 'Throttling', message: 'Maximum sending rate exceeded.' })).toBe('transient');
    expect(classifySesError({ name: 'Throttling', message: 'Daily message quota exceeded.' })).toBe('quota');
    expect(classifySesError({ name: 'ServiceUnavailable', message: '' })).toBe('transient');
    expect(classifySesError({ name: 'Unknown', message: '', $metadata: { httpStatusCode: 503 } })).toBe('transient');
    expect(classifySesError({ name: 'MessageRejected', message: 'Email address is not verified.' })).toBe('permanent');
    expect(classifySesError({ name: 'MailFromDomainNotVerifiedException', message: '' })).toBe('permanent');
    expect(classifySesError({ name: 'TimeoutError', message: 'socket hang up' })).toBe('transient');
  });
});
