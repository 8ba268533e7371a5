import { z } from 'zod';
import { displayName, emailAddress } from './address.js';
import { contradictionMessage, contradictoryTopics, deliveryPreferenceFields, preferenceList } from './preferences.js';

/** No control characters (CR and LF above all): a name ends up in the To: header. */
const headerSafe = z.string().regex(/^[^\p{Cc}]*$/u, 'must not contain line breaks or control characters');

/** The reader's choice of layout; see src/render/format.ts for the default. */
export const emailFormat = z.enum(['full', 'compact']);
export type EmailFormat = z.infer<typeof emailFormat>;

/** Most topics a learned-weights map holds (the taxonomy is far smaller; this bounds stored data). */
export const LEARNED_TOPICS_MAX = 200;

/** Most authors followed, or topics excluded, from feedback (the explicit lists have their own limits). */
export const LEARNED_LIST_MAX = 100;

export const learnedPreferences = z.strictObject({
  topics: z
    .record(z.string().min(1).max(80), z.number().min(-1).max(1))
    .refine((topics) => Object.keys(topics).length <= LEARNED_TOPICS_MAX, `holds at most ${LEARNED_TOPICS_MAX} topics`),
  /**
   * Authors followed from a "more like this" page: their papers are selected and come first, like
   * explicitly followed ones, but they never narrow a reader of everything to those authors.
   */
  authors: z.array(z.string().regex(/^[^\p{Cc}]*$/u).min(2).max(120)).max(LEARNED_LIST_MAX).optional(),
  /** Topics excluded from a "less like this" page: never selected (exclusion wins, as in excludeTopics). */
  excludeTopics: z.array(z.string().min(1).max(80)).max(LEARNED_LIST_MAX).optional(),
});
export type LearnedPreferences = z.infer<typeof learnedPreferences>;

export const subscriberStatus = z.enum(['active', 'pending', 'unsubscribed', 'bounced', 'suppressed']);

/** Who or what changed a subscriber, and when: kept with the entry (consent records). */
export const historyEntrySchema = z.strictObject({
  at: z.iso.datetime({ offset: true }),
  event: z.enum([
    'subscribed', 'confirmed', 'preferences-changed', 'unsubscribed', 'resubscribed',
    'suppressed', 'bounced-transient', 'complained', 'added', 'imported', 'confirmation-sent',
    'links-revoked', 'link-sent',
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
  topics: preferenceList('topics'),
  /** Topic ids never to receive, even when an author or keyword matches. */
  excludeTopics: preferenceList('excludeTopics'),
  /** Author names to follow, as written in the digest (case and accents ignored). */
  authors: preferenceList('authors', headerSafe.min(2).max(120)),
  /** Words or phrases looked for in title, motivation, method and abstract. */
  keywords: preferenceList('keywords', headerSafe.min(2).max(80)),
  /** Cadence, weekday, own time zone and hour, pause (src/audience/preferences.ts). */
  ...deliveryPreferenceFields,
  /** How each paper is shown: `full` or `compact`; absent: chosen by paper count (src/render/format.ts). */
  format: emailFormat.optional(),
  /**
   * Learned from the reader's "more / less like this" feedback: per topic id, a weight from -1
   * (less) to 1 (more), 0 or absent neutral, which reorders the email (src/audience/rank.ts); and
   * the authors followed and topics excluded from a feedback page, which change the selection
   * (src/audience/select.ts). Kept apart from the explicit lists so each can be undone alone.
   */
  learned: learnedPreferences.optional(),
  subscribedAt: z.iso.datetime({ offset: true }).optional(),
  /** Transient bounces seen (counted, not suppressed). */
  transientBounces: z.number().int().min(0).optional(),
  history: z.array(historyEntrySchema).optional(),
}).superRefine((subscriber, ctx) => {
  const both = contradictoryTopics(subscriber);
  if (both.length > 0) ctx.addIssue({ code: 'custom', path: ['excludeTopics'], message: contradictionMessage(both) });
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
