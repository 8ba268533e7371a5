import { describe, expect, it } from 'vitest';
import { Dispatcher, RateLimiter, backoffDelay, type Clock } from '../../src/mail/flow.js';
import type { OutgoingMessage, SendResult, Transport } from '../../src/mail/transport.js';
import { classifySmtpError } from '../../src/mail/transports/smtp.js';
import { classifySesError } from '../../src/mail/transports/ses.js';
import { SharedRateLimiter } from '../../src/mail/shared-rate.js';

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
      { ok: false, kind: 'transient', stage: 'recipient', reason: '450' },
      { ok: false, kind: 'transient', stage: 'recipient', reason: '450' },
    ]);
    const dispatcher = new Dispatcher(transport, new RateLimiter(1000, clock), policy, clock, () => 1);
    const { result, attempts } = await dispatcher.send(message);
    expect(result.ok).toBe(true);
    expect(attempts).toBe(3);
    expect(clock.sleeps.filter((ms) => ms >= 1000)).toEqual([1000, 2000]);
  });

  it('does not retry a permanent failure', async () => {
    const clock = new VirtualClock();
    const transport = new ScriptedTransport(clock, [{ ok: false, kind: 'permanent', stage: 'recipient', reason: '550' }]);
    const { result, attempts } = await new Dispatcher(transport, new RateLimiter(1000, clock), policy, clock).send(message);
    expect(result).toMatchObject({ ok: false, kind: 'permanent' });
    expect(attempts).toBe(1);
  });

  it('gives up after maxAttempts transient failures, leaving it retryable', async () => {
    const clock = new VirtualClock();
    const fail: SendResult = { ok: false, kind: 'transient', stage: 'recipient', reason: '452 mailbox full' };
    const transport = new ScriptedTransport(clock, [fail, fail, fail, fail, fail]);
    const { result, attempts } = await new Dispatcher(transport, new RateLimiter(1000, clock), policy, clock).send(message);
    expect(result).toMatchObject({ ok: false, kind: 'transient' });
    expect(attempts).toBe(4);
  });

  it('stops everything at the daily quota: no further attempts for anyone', async () => {
    const clock = new VirtualClock();
    const transport = new ScriptedTransport(clock, [{ ok: false, kind: 'quota', stage: 'sender', reason: 'Daily message quota exceeded.' }]);
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

describe('session-scope failures', () => {
  const login: SendResult = { ok: false, kind: 'permanent', stage: 'login', reason: '535 5.7.8 Authentication failed' };
  const refused: SendResult = { ok: false, kind: 'transient', stage: 'connection', reason: 'connect ECONNREFUSED 127.0.0.1:2525' };

  it('stops the run after sessionFailureLimit permanent session failures in a row, keeping the reply', async () => {
    const clock = new VirtualClock();
    const transport = new ScriptedTransport(clock, [login, login, login, login]);
    const dispatcher = new Dispatcher(transport, new RateLimiter(1000, clock), { ...policy, sessionFailureLimit: 3 }, clock);
    for (let i = 0; i < 2; i++) {
      expect((await dispatcher.send(message)).attempts).toBe(1); // never retried
      expect(dispatcher.stopReason).toBeNull();
    }
    await dispatcher.send(message);
    expect(dispatcher.stopReason).toBe('session');
    expect(dispatcher.sessionFailure).toMatchObject({ stage: 'login', reason: '535 5.7.8 Authentication failed' });
    expect((await dispatcher.send(message)).attempts).toBe(0);
    expect(transport.sentAt).toHaveLength(3);
  });

  it('a success in between resets the count', async () => {
    const clock = new VirtualClock();
    const ok: SendResult = { ok: true };
    const transport = new ScriptedTransport(clock, [login, login, ok, login, login, ok]);
    const dispatcher = new Dispatcher(transport, new RateLimiter(1000, clock), { ...policy, sessionFailureLimit: 3 }, clock);
    for (let i = 0; i < 6; i++) await dispatcher.send(message);
    expect(dispatcher.stopReason).toBeNull();
  });

  it('retries a refused connection within the window and delivers when the relay is back', async () => {
    const clock = new VirtualClock();
    const transport = new ScriptedTransport(clock, [refused, refused, refused, refused, refused]);
    const dispatcher = new Dispatcher(
      transport,
      new RateLimiter(1000, clock),
      { maxAttempts: 100, baseDelayMs: 1000, maxDelayMs: 8000, windowMs: 60_000 },
      clock,
      () => 1,
    );
    const { result, attempts } = await dispatcher.send(message);
    expect(result.ok).toBe(true);
    expect(attempts).toBe(6);
    expect(dispatcher.stopReason).toBeNull();
  });

  it('a session that stays unreachable for the whole window stops the run; the time spent stays within the window', async () => {
    const clock = new VirtualClock();
    const transport = new ScriptedTransport(clock, Array.from({ length: 100 }, () => refused));
    const dispatcher = new Dispatcher(
      transport,
      new RateLimiter(1000, clock),
      { maxAttempts: 100, baseDelayMs: 1000, maxDelayMs: 8000, windowMs: 30_000 },
      clock,
      () => 1,
    );
    const { result, attempts } = await dispatcher.send(message);
    expect(result).toMatchObject({ ok: false, stage: 'connection' });
    expect(attempts).toBeGreaterThan(3);
    expect(clock.now()).toBeLessThanOrEqual(30_000 + 10);
    expect(dispatcher.stopReason).toBe('session');
  });

  it('a recipient that keeps answering 4xx fails alone at the end of the window; the run goes on', async () => {
    const clock = new VirtualClock();
    const full: SendResult = { ok: false, kind: 'transient', stage: 'recipient', reason: '452 4.2.2 mailbox full' };
    const transport = new ScriptedTransport(clock, Array.from({ length: 50 }, () => full));
    const dispatcher = new Dispatcher(transport, new RateLimiter(1000, clock), { maxAttempts: 100, baseDelayMs: 1000, maxDelayMs: 8000, windowMs: 20_000 }, clock, () => 1);
    expect((await dispatcher.send(message)).result).toMatchObject({ ok: false, stage: 'recipient' });
    expect(dispatcher.stopReason).toBeNull();
  });
});

describe('failure classification', () => {
  const smtp = (err: Parameters<typeof classifySmtpError>[0]) => {
    const c = classifySmtpError(err);
    return `${c.stage}/${c.kind}`;
  };

  it('SMTP: the stage follows the command; the kind follows the reply code', () => {
    expect(smtp({ code: 'EAUTH', command: 'AUTH PLAIN', responseCode: 535, response: '535 5.7.8 Authentication failed' })).toBe('login/permanent');
    expect(smtp({ code: 'EAUTH', command: 'AUTH PLAIN', responseCode: 454, response: '454 4.7.0 Temporary authentication failure' })).toBe('login/transient');
    expect(smtp({ code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 553, response: '553 5.7.1 Sender address rejected' })).toBe('sender/permanent');
    expect(smtp({ code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 450, response: '450 4.7.1 Error: too much mail' })).toBe('sender/transient');
    expect(smtp({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 550, response: '550 5.1.1 unknown user' })).toBe('recipient/permanent');
    expect(smtp({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 452, response: '452 4.2.2 full' })).toBe('recipient/transient');
    // Postfix answers sender, client and HELO restrictions at RCPT TO (smtpd_delay_reject).
    expect(smtp({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 553, response: '553 5.7.1 <digest@example.org>: Sender address rejected: not owned by user digest' })).toBe('sender/permanent');
    expect(smtp({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 554, response: '554 5.7.1 <ana@example.org>: Relay access denied' })).toBe('login/permanent');
    expect(smtp({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 450, response: '450 4.7.1 <localhost>: Helo command rejected: Host not found' })).toBe('greeting/transient');
    expect(smtp({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 554, response: '554 5.7.1 <unknown[10.0.0.1]>: Client host rejected: Access denied' })).toBe('greeting/permanent');
    expect(smtp({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 550, response: '550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table' })).toBe('recipient/permanent');
    expect(smtp({ code: 'EMESSAGE', command: 'DATA', responseCode: 554, response: '554 5.6.0 message refused' })).toBe('data/permanent');
    expect(smtp({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 421, response: '421 4.3.2 shutting down' })).toBe('connection/transient');
    expect(smtp({ code: 'ETLS', command: 'STARTTLS', responseCode: 502, response: '502 5.5.1 Error: command not implemented' })).toBe('tls/permanent');
    expect(smtp({ code: 'ESOCKET', command: 'CONN', message: 'self-signed certificate', originalCode: 'DEPTH_ZERO_SELF_SIGNED_CERT' })).toBe('tls/permanent');
    expect(smtp({ code: 'ETLS', command: 'STARTTLS', message: 'Error initiating TLS - unable to verify the first certificate' })).toBe('tls/permanent');
    expect(smtp({ code: 'ETLS', command: 'CONN', message: 'Connection closed unexpectedly' })).toBe('tls/transient');
    expect(smtp({ code: 'EPROTOCOL', command: 'CONN', responseCode: 554, response: '554 5.7.1 go away' })).toBe('greeting/permanent');
    expect(smtp({ code: 'ECONNECTION', command: 'EHLO', responseCode: 550, response: '550 bad EHLO name' })).toBe('greeting/permanent');
    expect(smtp({ code: 'ESOCKET', command: 'CONN', message: 'connect ECONNREFUSED', originalCode: 'ECONNREFUSED' })).toBe('connection/transient');
    expect(smtp({ code: 'ETIMEDOUT', command: 'CONN' })).toBe('connection/transient');
    expect(classifySmtpError({ code: 'ESOCKET', message: 'self-signed certificate' }).certificate).toBe(true);
  });

  it("SMTP: a policy refusal at RCPT TO is the session's until the relay has accepted a message", () => {
    // Postfix's submission port with "smtpd_relay_restrictions = permit_sasl_authenticated, reject" and no login.
    const denied = { code: 'EENVELOPE', command: 'RCPT TO', responseCode: 554, response: '554 5.7.1 <ana@example.org>: Recipient address rejected: Access denied' };
    expect(smtp(denied)).toBe('login/permanent');
    const after = classifySmtpError(denied, { acceptedAny: true });
    expect(`${after.stage}/${after.kind}`).toBe('recipient/permanent');
    // Addressing replies (5.1.x) are the recipient's from the first message on.
    expect(smtp({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 550, response: '550 5.1.1 <x@example.org>: Recipient address rejected: User unknown' })).toBe('recipient/permanent');
  });

  it('SMTP: the reason names the command and keeps the reply on one line', () => {
    expect(classifySmtpError({ code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 553, response: '553 5.7.1\r\n sender refused' }).reason).toBe(
      '553 5.7.1 sender refused (after MAIL FROM)',
    );
  });

  it('SES: credentials, unverified sender and paused sending are the session; a rejected recipient is not', () => {
    const ses = (err: Parameters<typeof classifySesError>[0]) => {
      const c = classifySesError(err, 'digest@example.org');
      return `${c.stage}/${c.kind}`;
    };
    expect(ses({ name: 'Throttling', message: 'Maximum sending rate exceeded.' })).toBe('connection/transient');
    expect(classifySesError({ name: 'Throttling', message: 'Daily message quota exceeded.' }).kind).toBe('quota');
    expect(ses({ name: 'ServiceUnavailable', message: '' })).toBe('connection/transient');
    expect(ses({ name: 'Unknown', message: '', $metadata: { httpStatusCode: 503 } })).toBe('connection/transient');
    expect(ses({ name: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.' })).toBe('login/permanent');
    expect(ses({ name: 'SignatureDoesNotMatch', message: '' })).toBe('login/permanent');
    expect(ses({ name: 'AccountSendingPausedException', message: 'Account sending paused' })).toBe('sender/permanent');
    expect(ses({ name: 'MailFromDomainNotVerifiedException', message: '' })).toBe('sender/permanent');
    expect(
      ses({ name: 'MessageRejected', message: 'Email address is not verified. The following identities failed the check in region EU-WEST-1: digest@example.org' }),
    ).toBe('sender/permanent');
    expect(
      ses({ name: 'MessageRejected', message: 'Email address is not verified. The following identities failed the check in region EU-WEST-1: sofia@example.org' }),
    ).toBe('recipient/permanent');
    expect(ses({ name: 'MessageRejected', message: 'Illegal address' })).toBe('recipient/permanent');
    expect(ses({ name: 'TimeoutError', message: 'socket hang up' })).toBe('connection/transient');
  });
});

describe('SharedRateLimiter', () => {
  /** The bucket row of Store#reserveSendSlots, in memory on the virtual clock (unit test only). */
  function bucket(clock: Clock) {
    let next = Number.NEGATIVE_INFINITY;
    let calls = 0;
    return {
      get calls() {
        return calls;
      },
      reserve: async (count: number, intervalMs: number) => {
        calls++;
        const start = Math.max(next, clock.now());
        next = start + count * intervalMs;
        return { waitMs: start - clock.now() };
      },
    };
  }

  it('keeps three workers sharing one bucket within the total rate, in blocks', async () => {
    const clock = new VirtualClock();
    const shared = bucket(clock);
    const rate = 40;
    const times: number[] = [];
    const worker = async () => {
      const limiter = new SharedRateLimiter(shared.reserve, rate, clock);
      await Promise.all(Array.from({ length: 4 }, async () => {
        for (let i = 0; i < 25; i++) {
          await limiter.take();
          times.push(clock.now());
        }
      }));
    };
    await Promise.all([worker(), worker(), worker()]);
    expect(times).toHaveLength(300);
    times.sort((a, b) => a - b);
    // 300 sends at 40/s take at least (300 - one block per worker) / 40 seconds.
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(((300 - 3 * 10) / rate) * 1000);
    // Any one-second window holds at most the rate plus one block per worker of headroom.
    for (let i = 0; i < times.length; i++) {
      const inWindow = times.filter((t) => t >= times[i]! && t < times[i]! + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(rate + 3 * 10);
    }
    // Blocks of rate/4 slots: about one reservation per block, not one per message.
    expect(shared.calls).toBeLessThan(300 / 5);
  });

  it('drops slots that have gone by instead of bursting them later', async () => {
    const clock = new VirtualClock();
    const shared = bucket(clock);
    const limiter = new SharedRateLimiter(shared.reserve, 100, clock, { lateMs: 50 });
    await limiter.take(); // reserves a block of 25 slots, 10 ms apart
    await clock.sleep(1000); // this worker was busy elsewhere for a second
    const before = clock.now();
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      await limiter.take();
      times.push(clock.now());
    }
    // Fresh slots, spaced again, not five sends at once from the stale block.
    expect(times.at(-1)! - before).toBeGreaterThanOrEqual(40);
  });
});
