import { createHash } from 'node:crypto';
import { addressKey, type Subscriber } from '../audience/schema.js';
import type { Store } from '../store/store.js';
import type { Mutation, StoredSubscriber } from '../store/types.js';
import type { ConfirmationMailer } from './confirmation.js';

export interface SubscribeRequest {
  email: string;
  name?: string | undefined;
  topics: string[];
}

/**
 * A fingerprint of the record's state when a confirmation link is made: status, when the
 * request was made and how many changes it has seen. The link works only while the record is
 * unchanged, so it is single use: confirming, unsubscribing or a newer request all retire it.
 */
export function confirmGeneration(s: Subscriber & { tokenGeneration?: number }): string {
  return createHash('sha256').update(`${s.status}\n${s.subscribedAt ?? ''}\n${s.tokenGeneration ?? 0}`).digest('base64url').slice(0, 16);
}

/** What a subscribe request does to the list: only a new address is written. */
export type SubscribeOutcome =
  | { kind: 'confirm'; subscriber: Subscriber }
  | { kind: 'notice'; subscriber: Subscriber }
  | { kind: 'nothing' };

/**
 * Decides a subscribe request. An address already on the list keeps its data untouched (name,
 * topics and status are the owner's): a pending or unsubscribed one is sent a confirmation
 * link, an active one a notice with its preferences link, a bounced or suppressed one nothing.
 */
export function decideSubscribe(existing: StoredSubscriber | undefined, request: SubscribeRequest, now: Date): Mutation<SubscribeOutcome> {
  if (!existing) {
    const subscriber: Subscriber = {
      email: request.email,
      ...(request.name ? { name: request.name } : {}),
      status: 'pending',
      topics: request.topics,
      excludeTopics: [],
      authors: [],
      keywords: [],
      subscribedAt: now.toISOString(),
    };
    return { result: { kind: 'confirm', subscriber }, put: { subscriber, change: { event: 'subscribed', by: 'web' } } };
  }
  // A known address is written too (a no-op rewrite of its row), so it costs what a new one does.
  if (existing.status === 'pending' || existing.status === 'unsubscribed') return { result: { kind: 'confirm', subscriber: existing }, touch: true };
  if (existing.status === 'active') return { result: { kind: 'notice', subscriber: existing }, touch: true };
  return { result: { kind: 'nothing' }, touch: true };
}

/** The cut-off `days` before `now` (ISO): pending subscribers and given-up intake rows older than it are deleted. */
export function daysBefore(now: Date, days: number): string {
  return new Date(now.getTime() - days * 86_400_000).toISOString();
}

const HOUR_MS = 3_600_000;

/**
 * At most `perHour` events per key per hour, counted in the store (counter `name`) so a restart
 * (or another process) does not reset them: a sliding hour estimated from this clock hour's
 * count and the previous one's, weighted by how much of it still lies within the last 60 minutes.
 */
export class HourlyLimit {
  constructor(
    private readonly store: Store,
    private readonly name: string,
    private readonly perHour: number,
    private readonly now: () => Date,
  ) {}

  private windows() {
    const at = this.now().getTime();
    const hour = Math.floor(at / HOUR_MS) * HOUR_MS;
    const iso = (start: number) => new Date(start).toISOString();
    return { current: iso(hour), previous: iso(hour - HOUR_MS), expires: iso(hour + 2 * HOUR_MS), stillInLastHour: 1 - (at - hour) / HOUR_MS };
  }

  /** Whether one more event for `key` fits now; counts it only if so. */
  async allow(key: string): Promise<boolean> {
    const w = this.windows();
    const [current, previous] = await Promise.all([this.store.counterValue(this.name, key, w.current), this.store.counterValue(this.name, key, w.previous)]);
    if (current + previous * w.stillInLastHour >= this.perHour) return false;
    await this.store.incrementCounter(this.name, key, w.current, w.expires);
    return true;
  }

  /**
   * Counts the event whether or not it fits, then says whether it did: a client that keeps
   * asking past the limit stays refused (per-IP limits), and every request costs one write.
   */
  async hit(key: string): Promise<boolean> {
    const w = this.windows();
    const [current, previous] = await Promise.all([this.store.incrementCounter(this.name, key, w.current, w.expires), this.store.counterValue(this.name, key, w.previous)]);
    return current + previous * w.stillInLastHour <= this.perHour;
  }
}

/** Confirmation emails per address per hour (`web.confirmationsPerAddressPerHour`). */
export class AddressMailLimit {
  private readonly limit: HourlyLimit;
  constructor(store: Store, perHour: number, now: () => Date) {
    this.limit = new HourlyLimit(store, 'confirmations', perHour, now);
  }

  /** Whether another email may go to this address now; counts it if so. */
  allow(email: string): Promise<boolean> {
    return this.limit.allow(addressKey(email));
  }
}

/**
 * How often at most housekeeping runs (pending subscribers past their expiry, intake rows past
 * retention): they were looked for on every subscribe.
 */
export const HOUSEKEEPING_EVERY_MS = 60_000;

/**
 * The work of one subscribe request, done by the intake drainer after the answer went out
 * (src/web/intake.ts): the subscriber upsert (a single-row transaction; only a new address
 * changes the list), the per-address confirmation limit, and the email composed and handed to
 * the transport.
 */
export class SubscribeFlow {
  private lastHousekeeping = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: {
      store: Store;
      mailer: ConfirmationMailer;
      limit: AddressMailLimit;
      now: () => Date;
      pendingExpiryDays: number;
      /** Given-up intake rows (address, name) are deleted this long after they were given up. */
      intakeRetentionDays: number;
    },
  ) {}

  /** Records the request in the list (only a new address changes it). */
  private async record(request: SubscribeRequest): Promise<SubscribeOutcome> {
    const { store, now } = this.deps;
    const outcome = await store.mutateSubscriber(request.email, (existing) => decideSubscribe(existing, request, now()));
    this.housekeep();
    return outcome;
  }

  /**
   * Handles one request: records it, then composes and queues the email the outcome calls for
   * (within the per-address limit). Throws if the store or composing fails (the drainer retries
   * the row); `sent` settles once the email went out or was given up by the transport.
   */
  async handle(request: SubscribeRequest): Promise<{ sent: Promise<boolean> } | null> {
    const { mailer, limit } = this.deps;
    const outcome = await this.record(request);
    if (outcome.kind === 'nothing' || !(await limit.allow(outcome.subscriber.email))) return null;
    return outcome.kind === 'confirm' ? mailer.queue('confirm', outcome.subscriber, confirmGeneration(outcome.subscriber)) : mailer.queue('notice', outcome.subscriber, '');
  }

  /**
   * Housekeeping in the background, at most once a minute (asked by every subscribe and the
   * drainer's poll): deletes pending subscribers past web.pendingExpiryDays and intake rows
   * given up more than web.intakeRetentionDays ago, so no address outlives its use (rows handled
   * are deleted when handled). Tracked by the mailer: a drain (shutdown, tests) waits for it.
   */
  housekeep(): void {
    const at = this.deps.now().getTime();
    if (Math.abs(at - this.lastHousekeeping) < HOUSEKEEPING_EVERY_MS) return;
    this.lastHousekeeping = at;
    this.deps.mailer.track(
      this.sweep().then(
        () => undefined,
        () => undefined, // tried again at the next one
      ),
    );
  }

  /** The same housekeeping now (server start); how many pending subscribers and given-up intake rows it deleted. */
  async sweep(): Promise<{ pending: number; intake: number }> {
    const { store, now, pendingExpiryDays, intakeRetentionDays } = this.deps;
    this.lastHousekeeping = now().getTime();
    const pending = await store.expirePending(daysBefore(now(), pendingExpiryDays));
    const intake = await store.purgeSubscribeIntake(daysBefore(now(), intakeRetentionDays));
    return { pending, intake };
  }
}
