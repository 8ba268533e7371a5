import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import pino from 'pino';
import { z } from 'zod';
import { displayName, emailAddress, isEmailAddress } from '../audience/address.js';
import { addressKey, type Subscriber } from '../audience/schema.js';
import type { Store } from '../store/store.js';
import type { Config } from '../config/load.js';
import type { Taxonomy } from '../topics/schema.js';
import { recipientLinks, verifyLink, type LinkSettings } from '../tokens/links.js';
import type { TokenClaims, TokenPurpose } from '../tokens/tokens.js';
import type { ConfirmationMailer } from './confirmation.js';
import { applyDelivery, crossFieldErrors, deliveryFormFields, deliveryView, fieldErrorsOf, listHourOf, uniqueChoices, uniqueLines } from './preferences-form.js';
import { AddressMailLimit, confirmGeneration, SubscribeFlow } from './subscribe.js';
import { securityHeaders } from './security-headers.js';
import { TurnGate } from './turns.js';
import { IntakeDrainer, RequestGauge, type IntakeLog } from './intake.js';
import type { Pages, PageName } from './pages.js';
import { LinkRequestFlow } from './link-request.js';
import type { Archive } from './archive.js';
import { archiveRoutes } from './archive-routes.js';
import { topicLabelsOf } from './archive-view.js';
import { feedbackRoutes } from './feedback.js';
import { learnedList, parseLearnedItem, undoLearned } from '../audience/feedback.js';
import { certificateLoader, feedbackActions, isTrustedUrl, sesEventSchema, SNS_MAX_AGE_MS, staleness, verifySnsMessage, type CertificateLoader, type SnsMessage, type SnsTrust } from './sns.js';
import { dirname } from 'node:path';

export interface ServerDeps {
  config: Config;
  taxonomy: Taxonomy;
  store: Store;
  links: LinkSettings;
  mailer: ConfirmationMailer;
  pages: Pages;
  /** The sent sections, for the web archive and the feeds. */
  archive: Archive;
  now?: () => Date;
  /** Overrides the certificate source (tests); by default pinned files, then download. */
  loadCertificate?: CertificateLoader;
  logger?: boolean;
  /** Where the subscribe intake's drainer reports (retries, requests given up). */
  log?: IntakeLog;
  /** False: subscribe requests are stored but not drained (tests of a server stopped before its drainer ran). */
  drainIntake?: boolean;
}

const headerSafeText = displayName;

/** A form field that may come once or many times (checkboxes). */
const many = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]));

const subscribeBody = z.object({
  email: emailAddress,
  name: displayName(120).optional(),
  topics: many,
});

/** Only the address: nothing else of the form is read. */
const linkRequestBody = z.object({ email: emailAddress });

const tokenField = z.object({ token: z.string().min(10).max(1000) });

const preferencesBody = tokenField.extend({
  name: headerSafeText(120).optional(),
  topics: uniqueChoices('topics'),
  excludeTopics: uniqueChoices('excludeTopics'),
  authors: uniqueLines('authors', 50, headerSafeText(120).pipe(z.string().min(2))),
  keywords: uniqueLines('keywords', 50, headerSafeText(80).pipe(z.string().min(2))),
  ...deliveryFormFields,
});

const learnedUndoBody = tokenField.extend({ undo: z.string().min(3).max(200) });

/** A trusted-host pattern from the config as a whole-name match (dots in a plain host name are literal). */
export function hostPattern(pattern: string): RegExp {
  const plain = /^[a-z0-9.-]+$/i.test(pattern);
  return new RegExp(`^(?:${plain ? pattern.replace(/\./g, '\\.') : pattern})$`, 'i');
}

/** Subscribes handled per turn of the event loop in a burst (about 0.3 ms each; see TurnGate). */
const SUBSCRIBES_PER_TURN = 4;

/** SNS delivers messages of up to 256 KB, as JSON with the message escaped inside: room for that on the webhook only. */
const WEBHOOK_BODY_LIMIT = 1_048_576;

/** Named proxies, or the innermost `hops` addresses of the chain (Fastify's numeric form, typed). */
function trustProxyOption(setting: Config['web']['trustProxy']): false | string[] | ((address: string, hop: number) => boolean) {
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return setting;
}

/**
 * One log line per request ("request completed", which names the method, path and status), not
 * Fastify's two: a burst of subscribes writes half as much to the log, synchronously, on the
 * event loop. Every other line Fastify writes stays.
 */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/** Builds the subscription web app; `listen` is the caller's. */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { config, taxonomy, store, links, mailer, pages } = deps;
  const now = deps.now ?? (() => new Date());
  const topicIds = new Set(taxonomy.topics.map((t) => t.id));
  const trust: SnsTrust = {
    // Each pattern must match the whole host name: "sns.eu-west-1.amazonaws.com" written plainly
    // must not also match "sns.eu-west-1.amazonaws.com.evil.example" (or "snsXeu-west-1...").
    trustedHosts: config.webhooks.ses.trustedHosts.map(hostPattern),
    allowHttp: config.webhooks.ses.allowHttp,
    topicArns: config.webhooks.ses.topicArns,
  };
  const loadCertificate = deps.loadCertificate ?? certificateLoader(config.webhooks.ses.pinnedCertificates, dirname(config.file));

  const app = Fastify({
    bodyLimit: config.web.bodyLimitBytes,
    // Slow clients: the whole request within requestTimeoutMs (checked at a quarter of it, not
    // Node's 30 s), an idle keep-alive connection closed after 5 s.
    requestTimeout: config.web.requestTimeoutMs,
    keepAliveTimeout: 5_000,
    http: { connectionsCheckingInterval: Math.max(250, Math.round(config.web.requestTimeoutMs / 4)), headersTimeout: Math.min(10_000, config.web.requestTimeoutMs) } as never,
    trustProxy: trustProxyOption(config.web.trustProxy),
    // Tokens travel in query strings: log paths only, never queries or bodies.
    logger:
      deps.logger === false
        ? false
        : {
            level: 'info',
            // Written from libuv's thread pool, not with a write(2) per line on the event loop
            // (about 0.1 ms a request in a burst); lines that come while one is being written
            // go out together. pino flushes what is left when the process exits.
            stream: pino.destination({ dest: 1, sync: false }),
            serializers: {
              req: (req) => ({ method: req.method, url: req.url.split('?')[0] }),
              res: (res) => ({ statusCode: res.statusCode }),
            },
          },
    logController: new OneLinePerRequest(),
  });

  const security = securityHeaders({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginEmbedderPolicy: false,
  });
  // On every response, 404s and errors included (set before routing reaches a handler).
  app.addHook('onRequest', (_req, reply, done) => {
    for (const [name, value] of security) reply.raw.setHeader(name, value);
    done();
  });
  await app.register(formbody);
  // RFC 8058 one-click posts SHOULD be multipart/form-data.
  await app.register(multipart, { attachFieldsToBody: 'keyValues', limits: { fileSize: 0, files: 0, fields: 20, fieldSize: 2000 } });
  await app.register(rateLimit, { global: false });
  // The multipart plugin reads the body before the handler; its parser's errors (a torn or
  // malformed body) carry no status. Requests that reached their handler are marked, so such
  // an error is known to be the client's body (400), not our fault (500).
  const reachedHandler = new WeakSet<object>();
  app.addHook('preHandler', async (req) => {
    reachedHandler.add(req);
  });

  const linkFlow = new LinkRequestFlow({
    store,
    mailer,
    now,
    secret: links.secret,
    perIpPerHour: config.web.linkRequestsPerIpPerHour,
    perAddressPerHour: config.web.linkEmailsPerAddressPerHour,
  });
  const mailLimit = new AddressMailLimit(store, config.web.confirmationsPerAddressPerHour, now);
  const subscribeFlow = new SubscribeFlow({ store, mailer, limit: mailLimit, now, pendingExpiryDays: config.web.pendingExpiryDays, intakeRetentionDays: config.web.intakeRetentionDays });
  // Subscribe is durable intake plus background work: the answer writes one intake row; this
  // drains the rows one at a time after the answers went out (README "Subscribe form").
  // Requests in flight, counted at the HTTP server (every route, aborted requests included:
  // a response's close event always comes), for the drainer to work between them.
  const requests = new RequestGauge();
  app.server.on('request', (_req, res) => {
    requests.enter();
    res.once('close', () => requests.leave());
  });
  const drainer = new IntakeDrainer({
    store,
    requests,
    handle: (request) => subscribeFlow.handle(request),
    track: (job) => mailer.track(job),
    log: deps.log ?? (() => undefined),
    now,
    // The transport's own retries of an email all fall within the claim.
    claimTtlMs: config.delivery.retryWindowMs + config.delivery.maxRetryDelayMs + 300_000,
    onPoll: () => subscribeFlow.housekeep(),
  });
  app.addHook('onReady', async () => {
    await subscribeFlow.sweep();
    // Before the first request rather than in the middle of the first subscribe's work; a
    // template that cannot render shows up (logged) on the first email instead.
    await mailer.warm().catch(() => undefined);
    if (deps.drainIntake !== false) await drainer.start();
  });
  app.addHook('onClose', async () => {
    drainer.stop();
  });

  const html = (reply: FastifyReply, status: number, name: PageName, title: string, data: Record<string, unknown> = {}) =>
    reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(pages.render(name, title, data));
  const message = (reply: FastifyReply, status: number, heading: string, text: string, link?: { href: string; text: string }, extra: { linkForm?: boolean } = {}) =>
    html(reply, status, 'message', heading, { heading, message: text, link, ...extra });

  const topicChoices = (checked: readonly string[]) =>
    taxonomy.topics.map((t) => ({ id: t.id, label: t.label, description: t.description, checked: checked.includes(t.id) }));

  /** The 403 page of a link that does not work, saying why. */
  const refuseLink = (reply: FastifyReply, why: 'expired' | 'revoked' | 'invalid', link?: { href: string; text: string }, linkForm = true) =>
    void message(
      reply,
      403,
      why === 'expired' ? 'This link has expired' : why === 'revoked' ? 'This link no longer works' : 'This link is not valid',
      why === 'expired' ? 'Links in our emails expire for your safety.'
      : why === 'revoked' ? 'The links of this address were replaced. Use the link from your most recent email.'
      : 'The link may have been cut short or changed. Use the link from your most recent email.',
      link,
      { linkForm },
    );

  /**
   * The subscriber a token names, or a 403 page: forged, tampered, wrong purpose, expired, or
   * revoked. A manage or view link must carry the subscriber's current token generation; an
   * unsubscribe link any generation from the unsubscribe floor up (a link request raises only
   * the generation, `subscribers revoke-links` both), so older emails' unsubscribe links keep
   * working after a reader asked for a new link. `stale`: an older generation than the current
   * one (such a page must not hand out the current manage link). Every invalid-link page but a
   * confirmation's offers the "send me my link" form.
   */
  const verifiedOr403 = async (reply: FastifyReply, token: unknown, purpose: TokenPurpose): Promise<(TokenClaims & { stale: boolean }) | null> => {
    const result = typeof token === 'string' ? verifyLink(links, token, purpose, now()) : null;
    let revoked = false;
    let stale = false;
    if (result?.ok && purpose !== 'confirm') {
      const generations = await store.linkGenerations(result.claims.email);
      const carried = result.claims.linkGeneration ?? 0;
      if (generations) {
        stale = carried < generations.current;
        revoked = purpose === 'unsubscribe' ? carried < generations.unsubscribeFloor || carried > generations.current : carried !== generations.current;
      }
    }
    if (result?.ok && !revoked) return { ...result.claims, stale };
    const expired = result && !result.ok && result.reason === 'expired';
    refuseLink(reply, expired ? 'expired' : revoked ? 'revoked' : 'invalid', purpose === 'confirm' ? { href: '/subscribe', text: 'Subscribe again' } : undefined, purpose !== 'confirm');
    return null;
  };
  const claimsOr403 = async (reply: FastifyReply, token: unknown, purpose: TokenPurpose): Promise<string | null> => (await verifiedOr403(reply, token, purpose))?.email ?? null;
  /** Current manage and unsubscribe links of a subscriber (their token generation). */
  const currentLinks = async (email: string) => recipientLinks(links, email, now(), (await store.tokenGeneration(email)) ?? 0);
  const badRequest = (reply: FastifyReply, error: z.ZodError) =>
    message(reply, 400, 'Something is missing', error.issues.map((i) => `${i.path.join('.') || 'form'}: ${i.message}`).join(' '));

  app.get('/', (_req, reply) => reply.redirect('/subscribe', 303));
  app.get('/healthz', (_req, reply) => reply.type('text/plain').send('ok'));
  app.get('/style.css', (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(pages.css));

  await archiveRoutes(app, {
    config,
    store,
    archive: deps.archive,
    pages,
    message,
    viewer: (reply, token) => claimsOr403(reply, token, 'view'),
    manageUrl: async (email) => (await currentLinks(email)).manageUrl,
  });

  await feedbackRoutes(app, {
    store,
    archive: deps.archive,
    pages,
    links,
    now,
    labels: topicLabelsOf(taxonomy),
    perIpPerMinute: Math.max(30, config.web.subscribePerIpPerMinute),
    message,
    refuseLink,
    manageUrl: async (email) => (await currentLinks(email)).manageUrl,
  });

  const subscribeTurns = new TurnGate(SUBSCRIBES_PER_TURN);
  const checkInboxPage = pages.render('check-inbox', 'Check your inbox', { ttlHours: config.web.confirmTtlHours });
  app.get('/subscribe', (_req, reply) => html(reply, 200, 'subscribe', 'Subscribe', { topics: topicChoices([]), values: {} }));

  app.post(
    '/subscribe',
    {
      config: { rateLimit: { max: config.web.subscribePerIpPerMinute, timeWindow: '1 minute' } },
      // A subscribe yields at least one turn of the event loop before its body is read, and
      // at most SUBSCRIBES_PER_TURN go on per turn (TurnGate): a preference change, an
      // unsubscribe or a confirmation that arrived together with a burst of subscribes is
      // answered within a few subscribes' work instead of behind all of it. The same for every
      // address: the gate looks at nothing but the order of arrival.
      onRequest: async () => {
        await subscribeTurns.wait();
      },
    },
    async (req, reply) => {
      const arrived = performance.now();
      const parsed = subscribeBody.safeParse(req.body ?? {});
      if (!parsed.success) {
        const values = (req.body ?? {}) as Record<string, unknown>;
        return html(reply, 400, 'subscribe', 'Subscribe', {
          error: parsed.error.issues.map((i) => i.message).join(' '),
          topics: topicChoices([]),
          values: { email: typeof values.email === 'string' ? values.email : '', name: typeof values.name === 'string' ? values.name : '' },
        });
      }
      const { email, name, topics } = parsed.data;
      const unknown = topics.filter((t) => !topicIds.has(t));
      if (unknown.length) return message(reply, 400, 'Unknown topic', `There is no topic "${unknown[0]}". Go back and choose from the list.`);
      // Same work and same answer whatever the address, by construction: one intake row
      // written (a single-row insert that never looks at the list), and the page, rendered once.
      // The subscriber upsert, the per-address limit and the email are the drainer's, after
      // the answer has gone out. `web.subscribeAnswerMs` (default 0) can still hold the answer
      // to a floor.
      await store.enqueueSubscribe({ email, ...(name ? { name } : {}), topics }, now().toISOString());
      drainer.kick();
      const wait = config.web.subscribeAnswerMs - (performance.now() - arrived);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      return reply.code(200).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(checkInboxPage);
    },
  );

  /** GET (and HEAD) only show the button: link scanners that follow links confirm nothing. */
  app.get('/confirm', async (req, reply) => {
    const token = (req.query as Record<string, unknown>).token;
    const claims = await claimsOr403(reply, token, 'confirm');
    if (!claims) return reply;
    return html(reply, 200, 'confirm', 'Confirm your subscription', { email: claims, token });
  });

  app.post('/confirm', async (req, reply) => {
    const parsed = tokenField.safeParse(req.body ?? {});
    if (!parsed.success) return badRequest(reply, parsed.error);
    const claims = await verifiedOr403(reply, parsed.data.token, 'confirm');
    if (!claims) return reply;
    const email = claims.email;
    const outcome = await store.mutateSubscriber(email, (s) => {
      if (!s) return { result: 'missing' as const };
      if (s.status === 'active') return { result: 'ok' as const };
      if (s.status === 'bounced' || s.status === 'suppressed') return { result: 'suppressed' as const };
      // Single use: the link names the state it was made for; a used, replaced or
      // unsubscribed-since record no longer matches.
      if (claims.generation !== confirmGeneration(s)) return { result: 'used' as const };
      const detail = s.status === 'unsubscribed' ? 'came back through a new subscribe' : undefined;
      return { result: 'ok' as const, put: { subscriber: { ...s, status: 'active' as const }, change: { event: 'confirmed' as const, by: 'web', detail } } };
    });
    if (outcome === 'missing') return message(reply, 404, 'No subscription found', 'This address is not on the list any more.', { href: '/subscribe', text: 'Subscribe' });
    if (outcome === 'suppressed') return message(reply, 409, 'We cannot send to this address', 'Mail to it bounced, so we stopped sending. Write to us from this address to start again.');
    if (outcome === 'used') return message(reply, 410, 'This link was already used', 'It was used or replaced by a newer one. To subscribe, fill in the form again.', { href: '/subscribe', text: 'Subscribe' });
    return html(reply, 200, 'confirmed', "You're subscribed", { email, manageUrl: (await currentLinks(email)).manageUrl });
  });

  const preferencesPage = async (reply: FastifyReply, email: string, token: string, extra: Record<string, unknown> = {}) => {
    const s = await store.getSubscriber(email);
    if (!s) return message(reply, 404, 'No subscription found', 'This address is not on the list any more.', { href: '/subscribe', text: 'Subscribe' });
    return html(reply, (extra.status as number | undefined) ?? 200, 'preferences', 'Your preferences', {
      subscriber: s,
      token,
      include: topicChoices(s.topics),
      exclude: topicChoices(s.excludeTopics),
      authors: s.authors.join('\n'),
      keywords: s.keywords.join('\n'),
      delivery: deliveryView(s, config.schedule.timezone ?? config.timezone, listHourOf(config.schedule.cron)),
      unsubscribed: s.status === 'unsubscribed',
      suppressed: s.status === 'bounced' || s.status === 'suppressed',
      unsubscribeUrl: recipientLinks(links, email, now(), s.tokenGeneration).unsubscribeUrl,
      learned: learnedList(s.learned, topicLabelsOf(taxonomy)),
      ...extra,
    });
  };

  app.get('/preferences', async (req, reply) => {
    const query = req.query as Record<string, unknown>;
    const email = await claimsOr403(reply, query.token, 'manage');
    if (!email) return reply;
    return preferencesPage(reply, email, String(query.token), { saved: query.saved === '1', learnedNow: query.learned === '1', undone: query.undone === '1' });
  });

  /** Undoes one thing learned from feedback (a topic back to neutral, an author unfollowed, an exclusion lifted). */
  app.post('/preferences/learned', async (req, reply) => {
    const parsed = learnedUndoBody.safeParse(req.body ?? {});
    if (!parsed.success) return badRequest(reply, parsed.error);
    const email = await claimsOr403(reply, parsed.data.token, 'manage');
    if (!email) return reply;
    const item = parseLearnedItem(parsed.data.undo);
    if (!item) return message(reply, 400, 'Nothing to undo', 'Use the undo buttons of your preferences page.');
    const found = await store.mutateSubscriber(email, (s) => {
      if (!s) return { result: false };
      const { learned: old, ...rest } = s;
      const learned = undoLearned(old, item);
      return { result: true, put: { subscriber: { ...rest, ...(learned ? { learned } : {}) }, change: { event: 'preferences-changed' as const, by: 'web', detail: 'undid a preference learned from feedback' } } };
    });
    if (!found) return message(reply, 404, 'No subscription found', 'This address is not on the list any more.');
    return reply.redirect(`/preferences?token=${encodeURIComponent(parsed.data.token)}&undone=1#learned`, 303);
  });

  app.post('/preferences', async (req, reply) => {
    const parsed = preferencesBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      const token = (req.body as Record<string, unknown> | undefined)?.token;
      const email = await claimsOr403(reply, token, 'manage');
      if (!email) return reply;
      const fieldErrors = fieldErrorsOf(parsed.error.issues);
      return preferencesPage(reply, email, String(token), { status: 400, error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join(' '), fieldErrors });
    }
    const email = await claimsOr403(reply, parsed.data.token, 'manage');
    if (!email) return reply;
    const { name, topics, excludeTopics, authors, keywords } = parsed.data;
    const unknown = [...topics, ...excludeTopics].filter((t) => !topicIds.has(t));
    if (unknown.length) return preferencesPage(reply, email, parsed.data.token, { status: 400, error: `Unknown topic "${unknown[0]}".` });
    const crossErrors = crossFieldErrors(parsed.data, config.schedule.timezone ?? config.timezone, now());
    if (Object.keys(crossErrors).length > 0) {
      return preferencesPage(reply, email, parsed.data.token, { status: 400, error: Object.entries(crossErrors).map(([field, m]) => `${field}: ${m}`).join(' '), fieldErrors: crossErrors });
    }
    const found = await store.mutateSubscriber(email, (s) => {
      if (!s) return { result: false };
      const next = applyDelivery({ ...s, ...(name !== undefined ? { name: name || undefined } : {}), topics, excludeTopics, authors, keywords }, parsed.data);
      return { result: true, put: { subscriber: next, change: { event: 'preferences-changed', by: 'web' } } };
    });
    if (!found) return message(reply, 404, 'No subscription found', 'This address is not on the list any more.');
    return reply.redirect(`/preferences?token=${encodeURIComponent(parsed.data.token)}&saved=1`, 303);
  });

  app.post('/preferences/resubscribe', async (req, reply) => {
    const parsed = tokenField.safeParse(req.body ?? {});
    if (!parsed.success) return badRequest(reply, parsed.error);
    const email = await claimsOr403(reply, parsed.data.token, 'manage');
    if (!email) return reply;
    // An unsubscribed address comes back only by confirming from its inbox again (an old
    // email's manage link is not proof enough); a bounced or suppressed one stays suppressed.
    const s = await store.getSubscriber(email);
    if (s?.status === 'unsubscribed' && (await mailLimit.allow(email))) mailer.send(s, confirmGeneration(s));
    return message(reply, 200, 'Check your inbox', `If ${email} can receive the digest again, we sent it a confirmation link. Open it to start again.`);
  });

  /** The current manage link, unless the unsubscribe link was an older generation's (it must not renew a revoked email's access). */
  const manageUrlFor = async (claims: TokenClaims & { stale: boolean }) => (claims.stale ? undefined : (await currentLinks(claims.email)).manageUrl);

  /** The "send me my link" form alone (also on the subscribe page and every invalid-link page). GET changes nothing. */
  app.get('/preferences/link', (_req, reply) => html(reply, 200, 'link-request', 'Get your preferences link', { values: {} }));

  app.post('/preferences/link', async (req, reply) => {
    const arrived = performance.now();
    const parsed = linkRequestBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      const typed = (req.body as Record<string, unknown> | undefined)?.email;
      return html(reply, 400, 'link-request', 'Get your preferences link', { error: parsed.error.issues.map((i) => i.message).join(' '), values: { email: typeof typed === 'string' ? typed.slice(0, 254) : '' } });
    }
    // The same work before the answer whatever the address: one counter write for the client
    // IP. Whether the address is subscribed is looked at only after the answer has gone out,
    // and the answer is held until a fixed moment after the request arrived (as subscribe).
    if (!(await linkFlow.admit(req.ip))) {
      return message(reply, 429, 'Too many requests', `Too many link requests from your network (at most ${config.web.linkRequestsPerIpPerHour} an hour). Please try again later.`);
    }
    const { email } = parsed.data;
    mailer.track(new Promise<void>((resolve) => reply.raw.once('close', () => resolve(linkFlow.notify(email).then(() => undefined)))));
    const wait = config.web.subscribeAnswerMs - (performance.now() - arrived);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    return message(
      reply,
      200,
      'Check your inbox',
      `If this address is subscribed, a new link to its preferences is on its way to it; the preference links in its older emails stop working. Nothing arrived within a few minutes? Look in your spam folder. If you never confirmed your subscription or you unsubscribed, subscribe again instead.`,
      { href: '/subscribe', text: 'Subscribe' },
    );
  });

  app.get('/unsubscribe', async (req, reply) => {
    const token = (req.query as Record<string, unknown>).token;
    const claims = await verifiedOr403(reply, token, 'unsubscribe');
    if (!claims) return reply;
    return html(reply, 200, 'unsubscribe', 'Unsubscribe', { email: claims.email, token, manageUrl: await manageUrlFor(claims) });
  });

  app.post('/unsubscribe', async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const oneClick = body['List-Unsubscribe'] === 'One-Click';
    const token = (req.query as Record<string, unknown>).token ?? body.token;
    const claims = await verifiedOr403(reply, token, 'unsubscribe');
    if (!claims) return reply;
    const email = claims.email;
    await store.mutateSubscriber(email, (s) => {
      if (s && s.status !== 'unsubscribed' && s.status !== 'suppressed' && s.status !== 'bounced') {
        return { result: null, put: { subscriber: { ...s, status: 'unsubscribed' as const }, change: { event: 'unsubscribed', by: oneClick ? 'one-click' : 'web' } } };
      }
      return { result: null };
    });
    // RFC 8058: the one-click POST gets a plain success, no page and no confirmation step.
    if (oneClick) return reply.code(200).type('text/plain; charset=utf-8').send('Unsubscribed.');
    return html(reply, 200, 'unsubscribed', "You're unsubscribed", { email, manageUrl: await manageUrlFor(claims) });
  });

  app.post('/webhooks/ses', { bodyLimit: WEBHOOK_BODY_LIMIT }, async (req, reply) => {
    let body: unknown = req.body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        return reply.code(400).type('text/plain').send('not JSON');
      }
    }
    const verified = await verifySnsMessage(body, trust, loadCertificate);
    if (!verified.ok) {
      req.log.warn({ reason: verified.reason }, 'SNS message refused');
      return reply.code(403).type('text/plain').send('forbidden');
    }
    const sns = verified.message;
    // Replays change nothing: a message older than an hour (by its signed Timestamp) is
    // ignored, and each MessageId is applied once (recorded in the store, kept past the hour).
    // Both are answered 200, so SNS does not retry them.
    const stale = staleness(sns, now());
    if (stale) {
      req.log.warn({ messageId: sns.MessageId, reason: stale }, 'SNS message ignored: stale');
      return reply.code(200).type('text/plain').send('ignored');
    }
    const seenUntil = new Date(now().getTime() + 2 * SNS_MAX_AGE_MS).toISOString();
    if (!(await store.markSeen('sns', sns.MessageId, now().toISOString(), seenUntil))) {
      req.log.info({ messageId: sns.MessageId }, 'SNS message ignored: already applied');
      return reply.code(200).type('text/plain').send('ignored');
    }
    try {
      return await handleSns(sns, req.log, reply);
    } catch (err) {
      // Not applied: let SNS's redelivery be applied.
      await store.forgetSeen('sns', sns.MessageId).catch(() => undefined);
      throw err;
    } finally {
      pruneExpired();
    }
  });

  const handleSns = async (sns: SnsMessage, log: FastifyBaseLogger, reply: FastifyReply) => {
    if (sns.Type === 'SubscriptionConfirmation') {
      if (!sns.SubscribeURL || !isTrustedUrl(sns.SubscribeURL, trust)) return reply.code(403).type('text/plain').send('untrusted SubscribeURL');
      // No redirects: the host checked is the host visited.
      const res = await fetch(sns.SubscribeURL, { signal: AbortSignal.timeout(5_000), redirect: 'error' });
      log.info({ topic: sns.TopicArn, status: res.status }, 'SNS subscription confirmed');
      if (!res.ok) await store.forgetSeen('sns', sns.MessageId);
      return reply.code(res.ok ? 200 : 502).type('text/plain').send(res.ok ? 'confirmed' : 'confirmation failed');
    }
    if (sns.Type !== 'Notification') return reply.code(200).type('text/plain').send('ignored');
    let event: unknown;
    try {
      event = JSON.parse(sns.Message);
    } catch {
      return reply.code(400).type('text/plain').send('Message is not JSON');
    }
    const parsedEvent = sesEventSchema.safeParse(event);
    if (!parsedEvent.success) return reply.code(400).type('text/plain').send('not an SES event');
    const actions = feedbackActions(parsedEvent.data);
    let ignored = 0;
    // One single-row transaction per recipient named in the event. Feedback about an address
    // that is not on the list (or is not an address at all) creates nothing.
    for (const action of actions) {
      const email = /<([^>]+)>/.exec(action.email)?.[1] ?? action.email.trim();
      if (!isEmailAddress(email)) {
        ignored++;
        continue;
      }
      const applied = await store.mutateSubscriber(email, (s) => {
        if (!s) return { result: false };
        const put = (subscriber: Subscriber, event: 'suppressed' | 'complained' | 'bounced-transient') => ({ result: true, put: { subscriber, change: { event, by: 'ses-webhook', detail: action.detail } } });
        if (action.action === 'suppress') return put({ ...s, status: 'suppressed' }, 'suppressed');
        if (action.action === 'unsubscribe') return put({ ...s, status: s.status === 'suppressed' ? 'suppressed' : 'unsubscribed' }, 'complained');
        return put({ ...s, transientBounces: (s.transientBounces ?? 0) + 1 }, 'bounced-transient');
      });
      if (!applied) ignored++;
    }
    log.info({ actions: actions.map((a) => a.action), ignored }, 'SES feedback applied');
    return reply.code(200).type('text/plain').send('ok');
  };

  /** Drops expired rate counters and seen SNS ids, at most every ten minutes, in the background. */
  let lastPrune = 0;
  const pruneExpired = () => {
    if (Date.now() - lastPrune < 600_000) return;
    lastPrune = Date.now();
    void store.pruneExpired(now().toISOString()).catch(() => undefined);
  };

  app.setNotFoundHandler((_req, reply) => message(reply, 404, 'Page not found', 'There is nothing at this address.', { href: '/subscribe', text: 'Subscribe' }));
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const unreadableBody = !err.statusCode && !reachedHandler.has(req) && /^multipart\//i.test(req.headers['content-type'] ?? '');
    const status = unreadableBody ? 400 : err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err: { message: err.message, code: err.code } }, 'request failed');
    const text =
      status === 413 ? 'That was too much data for this form.'
      : status === 415 ? 'This form cannot be sent in that format.'
      : status === 429 ? 'Too many requests from your address. Please wait a minute and try again.'
      : status === 400 ? 'The request could not be read.'
      : status === 500 ? 'Something went wrong on our side. Please try again later.'
      : err.message;
    return message(reply, status, status === 500 ? 'Server error' : 'Request refused', text);
  });
  return app;
}
