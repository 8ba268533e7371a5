import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import Handlebars from 'handlebars';
import { z } from 'zod';
import { topicProblem } from '../audience/load.js';
import { addressKey, type Subscriber } from '../audience/schema.js';
import { selectPapers } from '../audience/select.js';
import type { Config } from '../config/load.js';
import type { Section } from '../digest/types.js';
import { formatProblem, UserError } from '../errors.js';
import type { Store, StoredSubscriber } from '../store/store.js';
import type { Inputs } from '../run/context.js';
import { composeFor } from '../run/deliver.js';
import { planSections, todayIn } from '../run/plan.js';
import { adHocSubscriber } from '../run/prepare.js';
import { sendTestEmail } from '../run/send-test.js';
import { inertLinks } from '../tokens/links.js';
import { inboxSnippet, messageHeaders } from './inbox.js';
import { bounceRate, complaintRate, hardBounces, percent } from '../stats/report.js';
import type { FeedbackCounts, SectionDeliveryStats } from '../store/types.js';
import { PreviewState, type Loaded } from './state.js';
import type { ChangeWatcher } from './watch.js';

/** Gmail clips HTML bodies above about 102 KB. */
export const CLIP_LIMIT = 102_000;

/** A section's sends, bounces and complaints as `digest-mailer stats` counts them, for the pages. */
function deliveredView(s: SectionDeliveryStats) {
  return { ...s, bounced: hardBounces(s), bounceRate: percent(bounceRate(s)), complaintRate: percent(complaintRate(s)) };
}

/** The section's "more / less like this" counts with paper titles and topic labels (ids when unknown). */
function feedbackView(counts: FeedbackCounts, section: Section, topics: readonly { id: string; label: string }[]) {
  const titles = new Map(section.papers.map((p) => [p.id, p.title.text]));
  const labels = new Map(topics.map((t) => [t.id, t.label]));
  const papers = counts.papers.map((p) => ({ ...p, title: titles.get(p.paper) ?? p.paper }));
  return { any: papers.length > 0, papers, topics: counts.topics.map((t) => ({ ...t, label: labels.get(t.topic) ?? t.topic })) };
}

export interface PreviewDeps {
  config: Config;
  watcher?: ChangeWatcher | undefined;
  logger?: boolean;
  /** Where subscribers and section statuses come from (the caller opens and closes it). */
  store: Store;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const VIEWS = ['email', 'dark', 'text', 'headers'] as const;

const audienceQuery = z
  .object({
    subscriber: z.string().min(3).max(254).optional(),
    topics: z.string().max(500).optional(),
    /** The checkbox form sends `topic` once per ticked box. */
    topic: z.union([z.string().max(60), z.array(z.string().max(60)).max(50)]).optional(),
    view: z.enum(VIEWS).default('email'),
    /** The audience picker's search text. */
    find: z.string().max(254).optional(),
  })
  .transform(({ topic, ...q }) => (topic === undefined ? q : { ...q, topics: [q.topics ?? '', ...[topic].flat()].filter(Boolean).join(',') }))
  .refine((q) => !(q.subscriber && q.topics !== undefined), { message: 'give either subscriber or topics, not both' });

const searchQuery = z.object({
  q: z.string().max(254).default(''),
  limit: z.coerce.number().int().min(1).max(50).default(20),
});

/** Subscribers the picker lists at once; the search narrows the rest down. */
const PICKER_ROWS = 12;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function compilePages(templatesDir: string) {
  const dir = join(templatesDir, 'preview');
  const hb = Handlebars.create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  const read = (f: string) => readFile(join(dir, f), 'utf8');
  return {
    layout: hb.compile(await read('layout.hbs')),
    index: hb.compile(await read('index.hbs')),
    section: hb.compile(await read('section.hbs')),
    css: await read('preview.css'),
    js: await read('preview.js'),
  };
}

/**
 * The local preview: every section for every subscriber or topic set, rendered by the run's own
 * code (selection, the run's variant cache, composeFor). Inputs are loaded once and reloaded
 * when the watcher reports a change, which also reloads the open pages; subscribers are looked
 * up and searched in the store, never listed whole. It never sends a run and never writes
 * the ledger; its only outgoing mail is the explicit "send test".
 */
export async function buildPreviewServer(deps: PreviewDeps): Promise<FastifyInstance> {
  const { config } = deps;
  // The preview shows links signed with a throw-away key: what it displays or sends as a test
  // never works as a subscriber's manage or unsubscribe link.
  const links = inertLinks({ baseUrl: config.baseUrl, ttlDays: config.tokens.linkTtlDays });
  // Every page carries this token in its forms; a post without it did not come from a page of ours.
  const formToken = randomBytes(32).toString('base64url');
  const formTokenOk = (given: unknown) =>
    typeof given === 'string' && given.length === formToken.length && timingSafeEqual(Buffer.from(given), Buffer.from(formToken));
  const pages = await compilePages(config.paths.templates);
  const app = Fastify({
    // Paths only: queries name subscribers' addresses.
    logger: deps.logger === false ? false : { level: 'info', serializers: { req: (req) => ({ method: req.method, url: req.url.split('?')[0] }) } },
    // A request must arrive whole within 20 s (a slow client holds no socket); answers such as
    // the live-reload event stream may last as long as they like.
    requestTimeout: 20_000,
  });
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'https:'],
        frameSrc: ["'self'"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'self'"],
      },
    },
    frameguard: { action: 'sameorigin' },
    // Not helmet's no-referrer: under it browsers send `Origin: null` even from our own pages,
    // and the send-test check needs their real origin. Nothing leaves for other sites either way.
    referrerPolicy: { policy: 'same-origin' },
    crossOriginEmbedderPolicy: false,
  });
  await app.register(formbody);

  // A local tool that can send mail must not be driven by other websites: refuse foreign Host
  // headers (DNS rebinding), and accept a state-changing request only from a page of this
  // preview: the browser's Origin must be this very origin (a sandboxed iframe sends
  // `Origin: null`, a non-browser client none: both refused) and the form must carry the token.
  const localHosts = new Set(['127.0.0.1', 'localhost', '[::1]', config.preview.host]);
  app.addHook('onRequest', async (req, reply) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (!localHosts.has(host)) return reply.code(403).type('text/plain').send('the preview only answers requests addressed to this machine');
    if (req.method === 'GET' || req.method === 'HEAD') return undefined;
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    if (origin !== `http://${req.headers.host}` || (site !== undefined && site !== 'same-origin')) {
      return reply.code(403).type('text/plain').send('refused: only the preview\'s own pages may send (same origin required)');
    }
    return undefined;
  });

  const page = (reply: FastifyReply, status: number, title: string, body: string) =>
    reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(pages.layout({ title, body, list: config.list }));
  const sectionPage = (reply: FastifyReply, status: number, title: string, data: Record<string, unknown>) => page(reply, status, title, pages.section({ ...data, formToken }));

  const state = new PreviewState(config, deps.store, deps.watcher);

  const sectionOr404 = (inputs: Inputs, date: string) => {
    if (!DATE.test(date)) throw new HttpError(400, `"${date}" is not a date (YYYY-MM-DD)`);
    const section = inputs.sections.find((s) => s.date === date);
    if (!section) throw new HttpError(404, `no section dated ${date}`);
    return section;
  };

  /** The audience a query names: a stored subscriber (looked up by address, not listed) or an ad-hoc topic set. */
  const audienceOf = async (inputs: Inputs, query: unknown) => {
    const parsed = audienceQuery.safeParse(query);
    if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '));
    const { subscriber: email, topics, view, find } = parsed.data;
    const known = new Set(inputs.taxonomy.topics.map((t) => t.id));
    if (email !== undefined) {
      const stored = await deps.store.getSubscriber(email);
      if (!stored) throw new HttpError(404, `no subscriber ${email}`);
      const problem = topicProblem(stored, known);
      if (problem) throw new UserError(`subscriber ${stored.email}: ${problem.message}`, problem.hint);
      return { subscriber: stored as Subscriber & { tokenGeneration?: number }, topics: undefined, view, find };
    }
    const ids = (topics ?? '').split(',').map((t) => t.trim()).filter(Boolean);
    const unknown = ids.filter((t) => !known.has(t));
    if (unknown.length) throw new HttpError(400, `unknown topic ${unknown.join(', ')}`);
    return { subscriber: adHocSubscriber(ids), topics: ids, view, find };
  };
  type AudienceChoice = Awaited<ReturnType<typeof audienceOf>>;

  /** The exact message a run would send for this audience (rendered variants are cached), or null when nothing matches. */
  const message = async (loaded: Loaded, section: Section, audience: AudienceChoice) => {
    const selected = selectPapers(loaded.papers(section), audience.subscriber);
    if (selected.length === 0) return null;
    const rendered = await loaded.variants.render(section, selected, audience.subscriber.format);
    const composed = await composeFor(config, rendered, section, audience.subscriber, links, new Date());
    return { rendered, ...composed };
  };

  const fail = (reply: FastifyReply, err: unknown) => {
    if (err instanceof HttpError) return page(reply, err.status, 'Preview', `<h1>${err.status === 404 ? 'Not found' : 'Bad request'}</h1><p class="error">${Handlebars.escapeExpression(err.message)}</p><p><a href="/">All sections</a></p>`);
    if (err instanceof UserError) return page(reply, 500, 'Template error', `<h1>Template error</h1><pre class="error">${Handlebars.escapeExpression(err.message)}</pre>`);
    throw err;
  };
  const problemText = (err: UserError) => `${err.message}${err.hint ? `\n-> ${err.hint}` : ''}`;
  const pickerEntry = (s: StoredSubscriber) => ({ email: s.email, label: `${s.name ?? s.email} <${s.email}>`, status: s.status });

  app.get('/preview.css', (_req, reply) => reply.type('text/css; charset=utf-8').send(pages.css));
  app.get('/preview.js', (_req, reply) => reply.type('text/javascript; charset=utf-8').send(pages.js));

  app.get('/', async (_req, reply) => {
    const result = await state.inputs();
    if ('error' in result) return page(reply, 200, 'Preview', pages.index({ error: result.error }));
    const { inputs } = result.loaded;
    const records = await deps.store.sections();
    const today = todayIn(config.timezone, new Date());
    const plans = planSections(inputs.sections, records, { today, backfill: false });
    const delivered = new Map((await deps.store.sectionStats()).map((s) => [s.date, deliveredView(s)]));
    const sections = plans
      .map(({ section, state: status }) => ({ date: section.date, papers: section.papers.length, state: status, source: section.source, delivered: delivered.get(section.date) }))
      .reverse();
    const problems = [...inputs.problems, ...(await state.audienceProblems(result.loaded))];
    return page(reply, 200, 'Preview', pages.index({ sections, today, problems: problems.map(formatProblem) }));
  });

  /** The audience picker's search: subscribers whose address or name holds `q`, a page at a time. */
  app.get('/subscribers/search', async (req, reply) => {
    const parsed = searchQuery.safeParse(req.query);
    if (!parsed.success) return reply.code(400).type('application/json; charset=utf-8').send({ error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
    const found = await deps.store.searchSubscribers({ text: parsed.data.q, limit: parsed.data.limit });
    return reply.header('cache-control', 'no-store').send({ subscribers: found.subscribers.map(pickerEntry), more: found.more });
  });

  app.get('/section/:date', async (req, reply) => {
    const result = await state.inputs();
    const date = (req.params as { date: string }).date;
    if ('error' in result) return sectionPage(reply, 200, `Section ${date}`, { date, error: result.error });
    const { loaded } = result;
    try {
      const section = sectionOr404(loaded.inputs, date);
      let audience: AudienceChoice;
      try {
        audience = await audienceOf(loaded.inputs, req.query);
      } catch (err) {
        if (err instanceof UserError) return sectionPage(reply, 200, `Section ${date}`, { date, error: problemText(err) });
        throw err;
      }
      const { view, find } = audience;
      const stats = await state.stats(loaded, section);
      const [[sent], feedback] = await Promise.all([deps.store.sectionStats([date]), deps.store.feedbackCounts({ section: date })]);
      const adHoc = audience.topics !== undefined;
      const query = new URLSearchParams(adHoc ? { topics: audience.topics!.join(',') } : { subscriber: audience.subscriber.email }).toString();
      const found = await deps.store.searchSubscribers({ text: find ?? '', limit: PICKER_ROWS });
      const base = {
        date,
        papers: section.papers.length,
        source: section.source,
        stats: { ...stats, unreached: stats.unreached.map((p) => ({ title: p.title.text, link: p.link })) },
        delivered: sent ? deliveredView(sent) : null,
        feedback: feedbackView(feedback, section, loaded.inputs.taxonomy.topics),
        find: find ?? '',
        matches: found.subscribers.map((s) => ({ ...pickerEntry(s), href: `/section/${date}?${new URLSearchParams({ subscriber: s.email, view })}`, current: !adHoc && addressKey(s.email) === addressKey(audience.subscriber.email) })),
        moreMatches: found.more,
        shown: adHoc ? null : pickerEntry(audience.subscriber as StoredSubscriber),
        topics: loaded.inputs.taxonomy.topics.map((t) => ({ id: t.id, label: t.label, checked: (audience.topics ?? []).includes(t.id) })),
        adHoc,
        adHocTopics: (audience.topics ?? []).join(','),
        query,
        view,
        tabs: VIEWS.map((v) => ({ id: v, label: { email: 'Email', dark: 'Dark mode', text: 'Plain text', headers: 'Headers' }[v], current: v === view })),
      };
      let msg;
      try {
        msg = await message(loaded, section, audience);
      } catch (err) {
        if (err instanceof UserError) return sectionPage(reply, 200, `Section ${date}`, { ...base, error: problemText(err) });
        throw err;
      }
      if (!msg) return sectionPage(reply, 200, `Section ${date}`, { ...base, nothing: true });
      const htmlBytes = Buffer.byteLength(msg.html);
      const headers = messageHeaders(msg.raw);
      return sectionPage(reply, 200, `Section ${date}`, {
        ...base,
        email: {
          from: config.list.from.name,
          subject: msg.rendered.subject,
          preheader: msg.rendered.preheader,
          snippet: inboxSnippet(msg.html),
          to: audience.subscriber.email,
          htmlBytes,
          percent: Math.min(100, Math.round((htmlBytes / CLIP_LIMIT) * 100)),
          over: htmlBytes > CLIP_LIMIT,
          trimmed: msg.rendered.trim.abstractChars !== null || msg.rendered.trim.fullPapers < msg.rendered.paperIds.length,
          fullPapers: msg.rendered.trim.fullPapers,
          paperCount: msg.rendered.paperIds.length,
          text: msg.text,
          headers: headers.map((h) => ({ ...h, encoded: h.raw !== h.decoded })),
        },
      });
    } catch (err) {
      return fail(reply, err);
    }
  });

  const rawRoute = (kind: 'html' | 'text' | 'eml') => async (req: { params: unknown; query: unknown }, reply: FastifyReply) => {
    const result = await state.inputs();
    if ('error' in result) return reply.code(500).type('text/plain; charset=utf-8').send(result.error);
    try {
      const date = (req.params as { date: string }).date;
      const section = sectionOr404(result.loaded.inputs, date);
      const audience = await audienceOf(result.loaded.inputs, req.query);
      const msg = await message(result.loaded, section, audience);
      if (!msg) return reply.code(404).type('text/plain; charset=utf-8').send('No paper matches: this audience gets no email for this section.');
      if (kind === 'text') return reply.type('text/plain; charset=utf-8').send(msg.text);
      if (kind === 'eml') return reply.type('message/rfc822').header('content-disposition', `attachment; filename="${date}.eml"`).send(msg.raw);
      // Dark view: apply the template's own dark-mode rules unconditionally, as a client in
      // dark mode would.
      const dark = (req.query as Record<string, unknown>).dark === '1';
      const html = dark ? msg.html.replace(/@media\s*\(prefers-color-scheme:\s*dark\)/g, '@media all') : msg.html;
      return reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'self'").send(html);
    } catch (err) {
      if (err instanceof HttpError) return reply.code(err.status).type('text/plain; charset=utf-8').send(err.message);
      if (err instanceof UserError) return reply.code(500).type('text/plain; charset=utf-8').send(err.message);
      throw err;
    }
  };
  app.get('/email/:date/html', rawRoute('html'));
  app.get('/email/:date/text', rawRoute('text'));
  app.get('/email/:date/eml', rawRoute('eml'));

  app.get('/events', (req, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    reply.raw.write('retry: 1000\n\n');
    const onChange = (what: string) => reply.raw.write(`event: change\ndata: ${JSON.stringify(what)}\n\n`);
    deps.watcher?.on('change', onChange);
    const ping = setInterval(() => reply.raw.write(': ping\n\n'), 15_000);
    req.raw.on('close', () => {
      clearInterval(ping);
      deps.watcher?.off('change', onChange);
    });
  });

  app.post('/send-test', async (req, reply) => {
    if (!formTokenOk((req.body as Record<string, unknown> | undefined)?.formToken)) {
      return page(reply, 403, 'Send test', '<h1>Refused</h1><p class="error">This form did not come from the open preview page (or the preview restarted). Reload the page and send again.</p>');
    }
    const body = z
      .object({ formToken: z.string().max(100), to: z.string().max(254), section: z.string().regex(DATE), subscriber: z.string().max(254).optional(), topics: z.string().max(500).optional() })
      .safeParse(req.body ?? {});
    if (!body.success) return page(reply, 400, 'Send test', `<h1>Bad request</h1><p class="error">${Handlebars.escapeExpression(body.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '))}</p>`);
    const { to, section, subscriber, topics } = body.data;
    const back = `/section/${section}?${new URLSearchParams(subscriber ? { subscriber } : { topics: topics ?? '' }).toString()}`;
    try {
      const loaded = await state.inputs();
      if ('error' in loaded) throw new UserError(loaded.error);
      // The one subscriber from the store, not the whole list: the inputs are otherwise the preview's own.
      const stored = subscriber ? await deps.store.getSubscriber(subscriber) : undefined;
      const inputs = { ...loaded.loaded.inputs, subscribers: stored ? [stored] : [] };
      const result = await sendTestEmail(config, to, subscriber ? { section, subscriber } : { section, topics: topics ?? '' }, links, inputs);
      return page(reply, result.ok ? 200 : 502, 'Send test', `<h1>Send test</h1><p class="${result.ok ? 'notice' : 'error'}" role="status">${Handlebars.escapeExpression(result.message)}</p><p><a href="${Handlebars.escapeExpression(back)}">Back to the email</a></p>`);
    } catch (err) {
      if (err instanceof UserError) return page(reply, 400, 'Send test', `<h1>Send test</h1><p class="error">${Handlebars.escapeExpression(err.message)}</p><p><a href="${Handlebars.escapeExpression(back)}">Back</a></p>`);
      throw err;
    }
  });

  app.setNotFoundHandler((_req, reply) => page(reply, 404, 'Not found', '<h1>Not found</h1><p><a href="/">All sections</a></p>'));
  return app;
}

