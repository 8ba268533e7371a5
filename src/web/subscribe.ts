import { createHash } from 'node:crypto';
import type { Subscriber } from '../audience/schema.js';
import type { Editor, SubscriberStore } from '../audience/store.js';
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
export function confirmGeneration(s: Subscriber): string {
  return createHash('sha256').update(`${s.status}\n${s.subscribedAt ?? ''}\n${s.history?.length ?? 0}`).digest('base64url').slice(0, 16);
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
export function decideSubscribe(edit: Editor, request: SubscribeRequest, now: Date): SubscribeOutcome {
  const existing = edit.find(request.email);
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
    edit.put(subscriber, { event: 'subscribed', by: 'web' });
    return { kind: 'confirm', subscriber: edit.find(request.email)! };
  }
  if (existing.status === 'pending' || existing.status === 'unsubscribed') return { kind: 'confirm', subscriber: existing };
  if (existing.status === 'active') return { kind: 'notice', subscriber: existing };
  return { kind: 'nothing' };
}

/** Deletes pending subscribers who did not confirm within `days`; returns how many. */
export function expirePending(edit: Editor, now: Date, days: number): number {
  const cutoff = now.getTime() - days * 86_400_000;
  let removed = 0;
  for (const s of edit.all()) {
    const at = s.subscribedAt ? Date.parse(s.subscribedAt) : NaN;
    if (s.status === 'pending' && at < cutoff && edit.remove(s.email)) removed++;
  }
  return removed;
}

/**
 * Handles subscribe requests so that every address costs the same before the answer: one
 * locked read and one atomic rewrite of the list (unchanged for a known address), so an
 * acknowledged request is on disk. Emails are composed and sent only after the answer left.
 */
export class SubscribeFlow {
  constructor(
    private readonly deps: {
      store: SubscriberStore;
      mailer: ConfirmationMailer;
      now: () => Date;
      pendingExpiryDays: number;
    },
  ) {}

  /** Records the request (only a new address changes the list); call `notify` after answering. */
  async record(request: SubscribeRequest): Promise<SubscribeOutcome> {
    const { store, now, pendingExpiryDays } = this.deps;
    return store.update((edit) => {
      expirePending(edit, now(), pendingExpiryDays);
      edit.touch();
      return decideSubscribe(edit, request, now());
    });
  }

  /** Queues the email the outcome calls for (within the per-address limit). */
  notify(outcome: SubscribeOutcome): void {
    const { mailer } = this.deps;
    if (outcome.kind === 'nothing' || !mailer.allow(outcome.subscriber.email)) return;
    if (outcome.kind === 'confirm') mailer.send(outcome.subscriber, confirmGeneration(outcome.subscriber));
    else mailer.sendNotice(outcome.subscriber);
  }

  /** Deletes expired pending subscribers now (server start). */
  async sweep(): Promise<number> {
    const { store, now, pendingExpiryDays } = this.deps;
    return store.update((edit) => expirePending(edit, now(), pendingExpiryDays));
  }
}
