import etag from '@fastify/etag';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { selectPapers } from '../audience/select.js';
import type { Config } from '../config/load.js';
import type { Store } from '../store/store.js';
import type { Archive, PublishedSection } from './archive.js';
import { archiveIndexView, issueView, topicLabelsOf } from './archive-view.js';
import { atomFeed } from './feeds.js';
import { SITE_FEEDS, type PageHead, type Pages } from './pages.js';

export interface ArchiveRouteDeps {
  config: Config;
  store: Store;
  archive: Archive;
  pages: Pages;
  /** The app's message page (404s and the like). */
  message(reply: FastifyReply, status: number, heading: string, text: string, link?: { href: string; text: string }): FastifyReply;
  /** The address a `view` token names, or null after answering with the app's 403 page (forged, expired, revoked). */
  viewer(reply: FastifyReply, token: unknown): Promise<string | null>;
  /** A reader's current preferences link, for their own page. */
  manageUrl(email: string): Promise<string>;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const FEED_TYPE = 'application/atom+xml';
/** Public pages and feeds change once a day: caches may keep them a few minutes. */
const PAGE_CACHE = 'public, max-age=300';
const FEED_CACHE = 'public, max-age=900';

/**
 * Conditional GET by date: the ETag (added by @fastify/etag from the body) wins when the
 * client sends one; otherwise If-Modified-Since against the newest send time, to the second.
 */
function unchangedSince(req: FastifyRequest, lastModified: Date): boolean {
  if (req.headers['if-none-match'] !== undefined) return false;
  const since = Date.parse(req.headers['if-modified-since'] ?? '');
  return Number.isFinite(since) && Math.floor(lastModified.getTime() / 1000) * 1000 <= since;
}

const newestSend = (published: readonly PublishedSection[]) => new Date(published.reduce((max, p) => (p.sentAt > max ? p.sentAt : max), '1970-01-01T00:00:00.000Z'));

/**
 * The web archive (`/archive`, `/archive/DATE`) and the Atom feeds (`/feeds/all.atom`,
 * `/feeds/TOPIC.atom`) of every section that was sent, and nothing else: a section still being
 * sent, not sent yet or dated in the future answers 404 and is in no feed. GET only; nothing
 * here changes state. Digest text is inserted as the parser's escaped HTML; the rest is escaped.
 */
export async function archiveRoutes(app: FastifyInstance, deps: ArchiveRouteDeps): Promise<void> {
  const { config, archive, pages } = deps;
  const notFound = (reply: FastifyReply) => deps.message(reply, 404, 'Page not found', 'There is nothing at this address.', { href: '/archive', text: 'The archive' });
  const labels = topicLabelsOf(archive.taxonomy);
  /** The feeds of these topics (all of them by default), for a page's head. */
  const topicFeeds = (only?: ReadonlySet<string>) =>
    archive.taxonomy.topics.filter((t) => !only || only.has(t.id)).map((t) => ({ href: `/feeds/${t.id}.atom`, title: `${t.label} (Atom)`, type: FEED_TYPE }));

  await app.register(async (scope) => {
    await scope.register(etag);

    const send = (req: FastifyRequest, reply: FastifyReply, type: string, cache: string, lastModified: Date, body: string) => {
      reply.type(type).header('cache-control', cache).header('last-modified', lastModified.toUTCString());
      if (unchangedSince(req, lastModified)) return reply.code(304).send();
      return reply.send(body);
    };
    const page = (req: FastifyRequest, reply: FastifyReply, name: 'archive' | 'issue', title: string, data: Record<string, unknown>, lastModified: Date, head: PageHead) =>
      send(req, reply, 'text/html; charset=utf-8', PAGE_CACHE, lastModified, pages.render(name, title, data, head));

    scope.get('/archive', async (req, reply) => {
      const published = await archive.published();
      const topics = archive.taxonomy.topics.map((t) => ({ id: t.id, label: t.label }));
      return page(req, reply, 'archive', 'Archive', { ...archiveIndexView(published, labels), topics }, newestSend(published), { alternates: [...SITE_FEEDS, ...topicFeeds()] });
    });

    scope.get('/archive/:date', async (req, reply) => {
      const { date } = req.params as { date: string };
      const published = DATE.test(date) ? await archive.issue(date) : undefined;
      if (!published) {
        // Going out right now: not published until every reader has it, but say so.
        if (DATE.test(date) && (await archive.delivered(date))) {
          return deps.message(reply, 404, 'This issue is still going out', 'It appears in the archive once every reader has it, usually within minutes. The link in your email works now.', { href: '/archive', text: 'The archive' });
        }
        return notFound(reply);
      }
      const view = issueView(published, labels);
      const own = new Set(published.papers.flatMap((p) => p.topics));
      return page(req, reply, 'issue', view.dateLabel, { issue: view }, new Date(published.sentAt), { alternates: [...SITE_FEEDS, ...topicFeeds(own)] });
    });

    /**
     * A reader's own web version of one day (the "view in browser" link of a personal email):
     * the papers of that day their preferences pick, in their order, with their reasons. Works
     * from the moment the section starts going out; never cached, never indexed.
     */
    scope.get('/archive/:date/yours', async (req, reply) => {
      const { date } = req.params as { date: string };
      const email = await deps.viewer(reply, (req.query as Record<string, unknown>).token);
      if (!email) return reply;
      const delivered = DATE.test(date) ? await archive.delivered(date) : undefined;
      const subscriber = delivered ? await deps.store.getSubscriber(email) : undefined;
      if (!delivered || !subscriber) return notFound(reply);
      const selected = selectPapers(delivered.papers, subscriber);
      const view = issueView(delivered, labels, selected);
      reply.header('cache-control', 'private, no-store').header('x-robots-tag', 'noindex, nofollow');
      return reply.type('text/html; charset=utf-8').send(pages.render('issue', `${view.dateLabel}, for you`, { issue: view, personal: true, manageUrl: await deps.manageUrl(email) }, { noindex: true }));
    });

    scope.get('/feeds/:file', async (req, reply) => {
      const { file } = req.params as { file: string };
      const name = /^([a-z0-9][a-z0-9_-]*)\.atom$/i.exec(file)?.[1];
      const topic = name === 'all' ? undefined : archive.taxonomy.topics.find((t) => t.id === name);
      if (!name || (name !== 'all' && !topic)) return notFound(reply);
      const published = await archive.published();
      const { xml, updated } = atomFeed(published, { baseUrl: config.baseUrl, list: config.list, labels, topic });
      return send(req, reply, `${FEED_TYPE}; charset=utf-8`, FEED_CACHE, updated, xml);
    });
  });
}
