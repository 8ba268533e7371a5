import { z } from 'zod';
import { displayName, emailAddress } from './address.js';

/** No control characters (CR and LF above all): a name ends up in the To: header. */
const headerSafe = z.string().regex(/^[^\p{Cc}]*$/u, 'must not contain line breaks or control characters');

export const subscriberStatus = z.enum(['active', 'pending', 'unsubscribed', 'bounced', 'suppressed']);

/** Who or what changed a subscriber, and when: kept with the entry (consent records). */
export const historyEntrySchema = z.strictObject({
  at: z.iso.datetime({ offset: true }),
  event: z.enum([
    'subscribed', 'confirmed', 'preferences-changed', 'unsubscribed', 'resubscribed',
    'suppressed', 'bounced-transient', 'complained', 'added', 'imported', 'confirmation-sent',
  ]),
  /** web, one-click, cli, import, ses-webhook ... */
  by: z.string().min(1).max(60),
  detail: z.string().max(500).optional(),
});

export type HistoryEntry = z.infer<typeof historyEntrySchema>;

export const subscriberSchema = z.strictObject({
  email: emailAddress,
  name: displayName(120).optional(),
  /** Only `active` subscribers receive mail. */
  status: subscriberStatus.default('active'),
  /** Topic ids to include. With no topics, authors or keywords at all: everything. */
  topics: z.array(z.string()).default([]),
  /** Topic ids never to receive, even when an author or keyword matches. */
  excludeTopics: z.array(z.string()).default([]),
  /** Author names to follow, as written in the digest (case and accents ignored). */
  authors: z.array(headerSafe.min(2).max(120)).default([]),
  /** Words or phrases looked for in title, motivation, method and abstract. */
  keywords: z.array(headerSafe.min(2).max(80)).default([]),
  subscribedAt: z.iso.datetime({ offset: true }).optional(),
  /** Transient bounces seen (counted, not suppressed). */
  transientBounces: z.number().int().min(0).optional(),
  history: z.array(historyEntrySchema).optional(),
});

export const subscribersFileSchema = z.object({
  subscribers: z.array(z.unknown()),
});

export type Subscriber = z.infer<typeof subscriberSchema>;
export type SubscriberStatus = z.infer<typeof subscriberStatus>;

/** Addresses compare case-insensitively (and in one Unicode form): one person, one entry. */
export function addressKey(email: string): string {
  return email.trim().normalize('NFC').toLowerCase();
}
