import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Handlebars from 'handlebars';
import mjml2html from 'mjml';
import { addressKey, type Subscriber } from '../audience/schema.js';
import type { Config } from '../config/load.js';
import { composeMessage } from '../mail/compose.js';
import { feedbackId } from '../mail/compliance.js';
import { InputError } from '../errors.js';
import { dispatcherFor, type Dispatcher } from '../mail/flow.js';
import type { Transport } from '../mail/transport.js';
import { recipientLinks, signedUrl, type LinkSettings } from '../tokens/links.js';
import { transactionalHandlebars } from '../render/templates.js';

interface Composed {
  raw: Buffer;
  html: string;
  messageId: string;
}

export interface ConfirmationLog {
  (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
}

type TemplateName = 'confirm' | 'already' | 'link';
type Templates = Record<TemplateName, { mjml: Handlebars.TemplateDelegate; text: Handlebars.TemplateDelegate }>;

/** The per-recipient values of a subscribe-form email; everything else in its view is the list's. */
type PersonalView = { email: string } & ({ confirmUrl: string } | { manageUrl: string });

/**
 * Stand-ins rendered through MJML in place of the personal values, then replaced by them
 * (escaped the way Handlebars escapes `{{value}}`). Letters, digits, '-', '/', ':' and '.' only,
 * which neither Handlebars nor MJML changes.
 */
const SLOTS = { email: 'dm-slot-email-7c2e9a', url: 'https://slot.invalid/dm-slot-url-7c2e9a' } as const;

/**
 * The MJML output of one template for the list, with the personal values left as slots: MJML
 * (20 to 50 ms, synchronous) runs once per template instead of once per email, so a burst of
 * subscribes no longer holds the server's event loop for seconds. Trusted only after a check
 * that filling it gives the very bytes a direct render gives for two different readers;
 * otherwise (a customised template that transforms or tests the value) `fill` is absent and
 * every email is rendered directly.
 */
interface PreRendered {
  fill?: (view: PersonalView) => string;
}

/**
 * Sends the emails of the subscribe form through the configured transport, in the background:
 * the confirmation (double opt-in) and, for an address already on the list, a notice with its
 * preferences link. The subscribe answer never waits for (or reveals) whether a mail went out.
 * At most `confirmationsPerAddressPerHour` such emails per address. Neither carries the name
 * typed into the form: it is unconfirmed, so it goes into no greeting and no To: header.
 */
export class ConfirmationMailer {
  private readonly dispatcher: Dispatcher;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly preRendered = new Map<TemplateName, Promise<PreRendered>>();

  private constructor(
    private readonly config: Config,
    private readonly transport: Transport,
    private readonly links: LinkSettings,
    private readonly templates: Templates,
    private readonly log: ConfirmationLog,
    private readonly now: () => Date,
  ) {
    const { delivery } = config;
    this.dispatcher = dispatcherFor(transport, delivery);
  }

  static async create(config: Config, transport: Transport, links: LinkSettings, log: ConfirmationLog, now = () => new Date()) {
    const hb = await transactionalHandlebars(config.paths.templates);
    const read = (f: string) => readFile(join(config.paths.templates, f), 'utf8');
    const pair = async (name: string) => ({ mjml: hb.compile(await read(`${name}.mjml.hbs`)), text: hb.compile(await read(`${name}.txt.hbs`), { noEscape: true }) });
    const templates = { confirm: await pair('confirm'), already: await pair('already-subscribed'), link: await pair('manage-link') };
    return new ConfirmationMailer(config, transport, links, templates, log, now);
  }

  /** Renders the subscribe-form emails with sample values under MJML's strict validation (for `validate`). */
  static async check(config: Config): Promise<void> {
    const hb = await transactionalHandlebars(config.paths.templates);
    const view = { list: config.list, email: 'reader@example.org', confirmUrl: `${config.baseUrl}/confirm?token=sample`, manageUrl: `${config.baseUrl}/preferences?token=sample`, ttlHours: 48, ttlDays: 90 };
    for (const name of ['confirm.mjml.hbs', 'already-subscribed.mjml.hbs', 'manage-link.mjml.hbs']) {
      const file = join(config.paths.templates, name);
      try {
        await mjml2html(hb.compile(await readFile(file, 'utf8'))(view), { validationLevel: 'strict' });
      } catch (err) {
        const details = (err as { errors?: { formattedMessage?: string }[] }).errors?.map((e) => e.formattedMessage).join('; ');
        throw new InputError(`${file}: ${details ?? (err as Error).message}`);
      }
    }
  }

  /**
   * The confirmation email for a subscriber. `generation` (confirmGeneration of the stored
   * record) goes into the link, so it stops working once the record changes: single use.
   */
  async compose(subscriber: Subscriber, generation: string): Promise<Composed & { confirmUrl: string }> {
    const expires = Math.floor(this.now().getTime() / 1000) + this.config.web.confirmTtlHours * 3600;
    const confirmUrl = signedUrl(this.links, addressKey(subscriber.email), 'confirm', expires, generation);
    const view = { list: this.config.list, email: subscriber.email, confirmUrl, ttlHours: this.config.web.confirmTtlHours };
    return { ...(await this.render('confirm', subscriber, `Confirm your subscription to ${this.config.list.name}`, view)), confirmUrl };
  }

  /** The notice to an address that is already subscribed: its preferences link, nothing changed. */
  async composeNotice(subscriber: Subscriber & { tokenGeneration?: number }): Promise<Composed & { manageUrl: string }> {
    const { manageUrl } = recipientLinks(this.links, addressKey(subscriber.email), this.now(), subscriber.tokenGeneration);
    const view = { list: this.config.list, email: subscriber.email, manageUrl };
    return { ...(await this.render('already', subscriber, `You are already subscribed to ${this.config.list.name}`, view)), manageUrl };
  }

  /**
   * The answer to "send me my link": a fresh preferences link signed with the subscriber's new
   * token generation (the caller raised it), so the links of older emails stop opening it.
   */
  async composeLink(subscriber: Subscriber & { tokenGeneration: number }): Promise<Composed & { manageUrl: string }> {
    const { manageUrl } = recipientLinks(this.links, addressKey(subscriber.email), this.now(), subscriber.tokenGeneration);
    const view = { list: this.config.list, email: subscriber.email, manageUrl, ttlDays: this.links.ttlDays };
    return { ...(await this.render('link', subscriber, `Your preferences link for ${this.config.list.name}`, view)), manageUrl };
  }

  private async mjml(template: TemplateName, view: Record<string, unknown>): Promise<string> {
    return (await mjml2html(this.templates[template].mjml(view), { validationLevel: 'strict', fonts: {} })).html;
  }

  /** The template's MJML output with slots, checked against direct renders (see PreRendered). */
  private preRender(template: TemplateName, shared: Record<string, unknown>): Promise<PreRendered> {
    let pending = this.preRendered.get(template);
    if (!pending) {
      pending = (async () => {
        const urlKey = template === 'confirm' ? 'confirmUrl' : 'manageUrl';
        const withSlots = await this.mjml(template, { ...shared, email: SLOTS.email, [urlKey]: SLOTS.url });
        const fill = (view: PersonalView) => {
          const url = 'confirmUrl' in view ? view.confirmUrl : view.manageUrl;
          return withSlots.replaceAll(SLOTS.email, Handlebars.Utils.escapeExpression(view.email)).replaceAll(SLOTS.url, Handlebars.Utils.escapeExpression(url));
        };
        const samples = [
          { email: 'reader@example.org', [urlKey]: `${this.config.baseUrl}/x?token=a.b_c-1&n=2` },
          { email: '"o\'neil & co"+x=y@bücher.example', [urlKey]: `${this.config.baseUrl}/y?token=Zz9` },
        ] as PersonalView[];
        for (const sample of samples) {
          if (fill(sample) !== (await this.mjml(template, { ...shared, ...sample }))) return {};
        }
        return { fill };
      })();
      this.preRendered.set(template, pending);
    }
    return pending;
  }

  private async render(template: TemplateName, subscriber: Subscriber, subject: string, view: Record<string, unknown> & PersonalView): Promise<Composed> {
    const { email: _email, confirmUrl: _c, manageUrl: _m, ...shared } = view as Record<string, unknown>;
    const { fill } = await this.preRender(template, shared);
    const html = fill ? fill(view) : await this.mjml(template, view);
    const kind = template === 'already' ? 'notice' : template;
    const messageId = `<${kind}-${randomBytes(8).toString('hex')}@${this.config.list.id}>`;
    const raw = await composeMessage({
      from: this.config.list.from,
      replyTo: this.config.list.replyTo,
      to: { address: subscriber.email },
      subject,
      text: this.templates[template].text(view),
      html,
      messageId,
      date: this.now(),
      feedbackId: feedbackId(kind, 'transactional', this.config.list.id),
    });
    return { raw, html, messageId };
  }

  /**
   * Composes a confirmation and a notice for a sample address and drops them: the templates'
   * MJML pre-render (tens of ms, synchronous) then happens at start, not in the middle of the
   * first subscribe's background work while readers wait on the event loop.
   */
  async warm(): Promise<void> {
    const sample: Subscriber = { email: 'warm-up@example.invalid', status: 'pending', topics: [], excludeTopics: [], authors: [], keywords: [] };
    await this.compose(sample, 'warm-up');
    await this.composeNotice(sample);
  }

  /** Queues the confirmation; failures are logged (without the link), never thrown at the caller. */
  send(subscriber: Subscriber, generation: string): void {
    this.deliver(subscriber, () => this.compose(subscriber, generation), 'confirmation email');
  }

  /** Queues the "send me my link" email (the subscriber as stored, with its new token generation). */
  sendLink(subscriber: Subscriber & { tokenGeneration: number }): void {
    this.deliver(subscriber, () => this.composeLink(subscriber), 'preferences link');
  }

  /** Runs other background work (the subscribe queue) under the same drain and shutdown. */
  track(job: Promise<void>): void {
    this.inFlight.add(job);
    void job.finally(() => this.inFlight.delete(job));
  }

  private deliver(subscriber: Subscriber, compose: () => Promise<Composed>, what: string): void {
    this.track(
      (async () => {
        try {
          await this.dispatch(subscriber, await compose(), what);
        } catch (err) {
          this.log('error', `${what} failed`, { error: (err as Error).message });
        }
      })(),
    );
  }

  /** Hands a composed email to the transport; resolves once it was delivered or given up (logged), with whether it went out. */
  private async dispatch(subscriber: Subscriber, message: Composed, what: string): Promise<boolean> {
    const { result } = await this.dispatcher.send({
      sectionDate: 'confirmations',
      recipient: subscriber.email,
      messageId: message.messageId,
      raw: message.raw,
      html: message.html,
      envelope: { from: this.config.list.from.address, to: subscriber.email },
    });
    if (result.ok) this.log('info', `${what} sent`, { messageId: message.messageId });
    else this.log('warn', `${what} not delivered`, { kind: result.kind, reason: result.reason });
    return result.ok;
  }

  /**
   * For the subscribe drainer: composes the confirmation (with `generation`) or the notice now,
   * throwing if that fails, and hands it to the transport in the background (tracked like
   * `send`). `sent` settles once the email was delivered or given up (logged), with whether it
   * went out; it never rejects.
   */
  async queue(kind: 'confirm' | 'notice', subscriber: Subscriber, generation: string): Promise<{ sent: Promise<boolean> }> {
    const message = kind === 'confirm' ? await this.compose(subscriber, generation) : await this.composeNotice(subscriber);
    const what = kind === 'confirm' ? 'confirmation email' : 'already-subscribed notice';
    const sent = this.dispatch(subscriber, message, what).catch((err: unknown) => {
      this.log('error', `${what} failed`, { error: (err as Error).message });
      return false;
    });
    this.track(sent.then(() => undefined));
    return { sent };
  }

  /**
   * Waits up to `graceMs` for queued emails, then abandons the rest (logged; the reader can
   * ask again) and closes the transport, so shutdown never hangs behind a long queue.
   */
  async close(graceMs = 10_000): Promise<void> {
    // drain(), not a snapshot of what is in flight now: the subscribe drainer's job in hand can
    // still queue its email during the grace, and that one must not outlive the transport.
    const timedOut = await Promise.race([this.drain().then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
    if (timedOut) {
      this.log('warn', 'shutting down with confirmation emails unsent', { unsent: this.inFlight.size });
      this.dispatcher.stop('signal');
      await this.drain();
    }
    await this.transport.close();
  }

  /** Resolves when every queued job and email has been handed over (tests, graceful shutdown). */
  async drain(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }
}
