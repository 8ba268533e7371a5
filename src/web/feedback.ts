import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { applyFeedback, type FeedbackChoice } from '../audience/feedback.js';
import { addressKey } from '../audience/schema.js';
import { normalizeName } from '../audience/select.js';
import type { Store, StoredSubscriber } from '../store/store.js';
import { verifyFeedbackToken } from '../tokens/feedback.js';
import type { LinkSettings } from '../tokens/links.js';
import type { ClassifiedPaper } from '../topics/classify.js';
import type { Archive } from './archive.js';
import type { Pages } from './pages.js';

export interface FeedbackRouteDeps {
  store: Store;
  archive: Archive;
  pages: Pages;
  links: LinkSettings;
  now: () => Date;
  labels: Readonly<Record<string, string>>;
  /** Applied feedbacks per IP per minute. */
  perIpPerMinute: number;
  message(reply: FastifyReply, status: number, heading: string, text: string, link?: { href: string; text: string }): FastifyReply;
  /** The app's 403 page for a link that does not work (the same words as for every other link). */
  refuseLink(reply: FastifyReply, why: 'expired' | 'revoked' | 'invalid'): void;
  /** A reader's current preferences link (where the button leads: what was learned, with undo). */
  manageUrl(email: string): Promise<string>;
}

/** Most authors a feedback page offers to follow (a paper may list hundreds). */
export const FOLLOW_CHOICES_MAX = 30;

/** What every feedback link and form names: the paper (by section and id) and the direction. Not signed (README). */
const target = z.object({
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date such as 2025-11-12'),
  paper: z.string().min(1).max(64),
  want: z.enum(['more', 'less'], 'must be more or less'),
});
const tokenValue = z.string().min(10).max(200);
const many = z
  .union([z.string().max(200), z.array(z.string().max(200)).max(FOLLOW_CHOICES_MAX + 20)])
  .optional()
  .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]));
const feedbackBody = target.extend({ token: tokenValue, topics: many, follow: many, exclude: z.string().max(80).optional() });

/**
 * "More / less like this" (README): GET /feedback only shows what the button would do (link
 * scanners and prefetchers change nothing); POST /feedback, with the token in the form, applies
 * it to the reader's learned preferences, adds one to the aggregate counts, and leads to the
 * preference centre, which lists what was learned with an undo button for each item.
 */
export async function feedbackRoutes(app: FastifyInstance, deps: FeedbackRouteDeps): Promise<void> {
  const { store, archive, pages, labels } = deps;
  const page = (reply: FastifyReply, status: number, data: Record<string, unknown>) =>
    reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'private, no-store').header('x-robots-tag', 'noindex, nofollow')
      .send(pages.render('feedback', data.want === 'more' ? 'More like this' : 'Less like this', data, { noindex: true }));

  /** The subscriber a feedback token names, or the app's 403 page: forged, wrong purpose, expired or revoked. */
  const subscriberOr403 = async (reply: FastifyReply, token: unknown): Promise<StoredSubscriber | null> => {
    const result = typeof token === 'string' && tokenValue.safeParse(token).success ? verifyFeedbackToken(deps.links, token, deps.now()) : null;
    const subscriber = result?.ok ? await store.getSubscriberById(result.claims.subscriberId) : undefined;
    const revoked = result?.ok && (!subscriber || subscriber.tokenGeneration !== result.claims.linkGeneration);
    if (subscriber && !revoked) return subscriber;
    deps.refuseLink(reply, result && !result.ok && result.reason === 'expired' ? 'expired' : revoked ? 'revoked' : 'invalid');
    return null;
  };

  const paperOr404 = async (reply: FastifyReply, date: string, id: string): Promise<ClassifiedPaper | null> => {
    const paper = (await archive.delivered(date))?.papers.find((p) => p.id === id);
    if (paper) return paper;
    void deps.message(reply, 404, 'Paper not found', 'This paper is not in a digest we sent. Use the link from your email.');
    return null;
  };

  const badRequest = (reply: FastifyReply, error: z.ZodError) =>
    deps.message(reply, 400, 'Something is missing', error.issues.map((i) => `${i.path.join('.') || 'form'}: ${i.message}`).join(' '));

  const view = (subscriber: StoredSubscriber, paper: ClassifiedPaper, form: z.output<typeof target>, token: string) => {
    const followed = new Set([...subscriber.authors, ...(subscriber.learned?.authors ?? [])].map(normalizeName));
    const excluded = new Set([...subscriber.excludeTopics, ...(subscriber.learned?.excludeTopics ?? [])]);
    const topics = paper.topics.map((id, i) => ({ id, label: labels[id] ?? id, index: i, weight: subscriber.learned?.topics[id] ?? 0 }));
    return {
      ...form,
      token,
      more: form.want === 'more',
      title: paper.title.text,
      authorsLine: paper.authors.length > 8 ? `${paper.authors.slice(0, 7).join(', ')} and ${paper.authors.length - 7} more` : paper.authors.join(', '),
      topics,
      excludable: topics.filter((t) => !excluded.has(t.id)),
      follow: paper.authors.slice(0, FOLLOW_CHOICES_MAX).map((name, i) => ({ name, index: i, followed: followed.has(normalizeName(name)) })),
      otherUrl: `/feedback?${new URLSearchParams({ token, date: form.date, paper: form.paper, want: form.want === 'more' ? 'less' : 'more' })}`,
    };
  };

  /** GET (and HEAD) show what the button would do: nothing is changed or counted here. */
  app.get('/feedback', async (req, reply) => {
    const query = req.query as Record<string, unknown>;
    const subscriber = await subscriberOr403(reply, query.token);
    if (!subscriber) return reply;
    const parsed = target.safeParse(query);
    if (!parsed.success) return badRequest(reply, parsed.error);
    const paper = await paperOr404(reply, parsed.data.date, parsed.data.paper);
    if (!paper) return reply;
    return page(reply, 200, view(subscriber, paper, parsed.data, String(query.token)));
  });

  app.post('/feedback', { config: { rateLimit: { max: deps.perIpPerMinute, timeWindow: '1 minute' } } }, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const subscriber = await subscriberOr403(reply, body.token);
    if (!subscriber) return reply;
    const parsed = feedbackBody.safeParse(body);
    if (!parsed.success) return badRequest(reply, parsed.error);
    const form = parsed.data;
    const paper = await paperOr404(reply, form.date, form.paper);
    if (!paper) return reply;
    // Only what the page offered: the paper's own topics and authors.
    const topics = form.topics.filter((t) => paper.topics.includes(t));
    const follow = form.want === 'more' ? form.follow.filter((a) => paper.authors.slice(0, FOLLOW_CHOICES_MAX).includes(a)) : [];
    const exclude = form.want === 'less' && form.exclude && paper.topics.includes(form.exclude) ? form.exclude : null;
    if (topics.length !== new Set(form.topics).size || follow.length !== (form.want === 'more' ? new Set(form.follow).size : 0) || (form.exclude && form.want === 'less' && !exclude)) {
      return deps.message(reply, 400, 'Not a choice of this paper', 'Choose among the topics and authors the page lists.');
    }
    const choice: FeedbackChoice = { want: form.want, topics, follow, exclude };
    const email = await store.mutateSubscriber(subscriber.email, (s) => {
      if (!s || s.id !== subscriber.id) return { result: null };
      const learned = applyFeedback(s.learned, choice, s.authors);
      const { learned: _old, ...rest } = s;
      // The consent record says a preference changed through feedback, not which paper was read.
      return { result: s.email, put: { subscriber: { ...rest, ...(learned ? { learned } : {}) }, change: { event: 'preferences-changed' as const, by: 'feedback' } } };
    });
    if (!email) return deps.message(reply, 404, 'No subscription found', 'This address is not on the list any more.');
    await store.recordFeedback({ section: form.date, paper: paper.id, want: form.want, topics: exclude ? [...new Set([...topics, exclude])] : topics });
    const manage = new URL(await deps.manageUrl(addressKey(email)));
    return reply.redirect(`${manage.pathname}${manage.search}&learned=1#learned`, 303);
  });
}
