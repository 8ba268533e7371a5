import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Handlebars from 'handlebars';
import mjml2html from 'mjml';
import { addressKey, type Subscriber } from '../audience/schema.js';
import type { Config } from '../config/load.js';
import { composeMessage } from '../mail/compose.js';
import { InputError } from '../errors.js';
import { dispatcherFor, type Dispatcher } from '../mail/flow.js';
import type { Transport } from '../mail/transport.js';
import { greetingFor } from '../run/deliver.js';
import { signedUrl, type LinkSettings } from '../tokens/links.js';

export interface ConfirmationLog {
  (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
}

/**
 * Sends double opt-in confirmation emails through the configured transport, in the
 * background: the subscribe answer never waits for (or reveals) whether a mail went out.
 * At most `perAddressPerHour` confirmations per address.
 */
export class ConfirmationMailer {
  private readonly dispatcher: Dispatcher;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly recent = new Map<string, number[]>();

  private constructor(
    private readonly config: Config,
    private readonly transport: Transport,
    private readonly links: LinkSettings,
    private readonly templates: { mjml: Handlebars.TemplateDelegate; text: Handlebars.TemplateDelegate },
    private readonly log: ConfirmationLog,
    private readonly now: () => Date,
  ) {
    const { delivery } = config;
    this.dispatcher = dispatcherFor(transport, delivery);
  }

  static async create(config: Config, transport: Transport, links: LinkSettings, log: ConfirmationLog, now = () => new Date()) {
    const hb = Handlebars.create();
    const read = (f: string) => readFile(join(config.paths.templates, f), 'utf8');
    const templates = { mjml: hb.compile(await read('confirm.mjml.hbs')), text: hb.compile(await read('confirm.txt.hbs'), { noEscape: true }) };
    return new ConfirmationMailer(config, transport, links, templates, log, now);
  }

  /** Renders the confirmation template with sample values under MJML's strict validation (for `validate`). */
  static async check(config: Config): Promise<void> {
    const hb = Handlebars.create();
    const source = await readFile(join(config.paths.templates, 'confirm.mjml.hbs'), 'utf8');
    const view = { list: config.list, email: 'reader@example.org', greeting: 'Hello,', confirmUrl: `${config.baseUrl}/confirm?token=sample`, ttlHours: 48 };
    try {
      await mjml2html(hb.compile(source)(view), { validationLevel: 'strict' });
    } catch (err) {
      const details = (err as { errors?: { formattedMessage?: string }[] }).errors?.map((e) => e.formattedMessage).join('; ');
      throw new InputError(`${join(config.paths.templates, 'confirm.mjml.hbs')}: ${details ?? (err as Error).message}`);
    }
  }

  /** Whether another confirmation may go to this address now (and counts it if so). */
  allow(email: string): boolean {
    const key = addressKey(email);
    const hourAgo = this.now().getTime() - 3_600_000;
    const times = (this.recent.get(key) ?? []).filter((t) => t > hourAgo);
    if (times.length >= this.config.web.confirmationsPerAddressPerHour) return false;
    times.push(this.now().getTime());
    this.recent.set(key, times);
    return true;
  }

  /** Renders the confirmation email for a subscriber (exported for tests and previews). */
  async compose(subscriber: Subscriber): Promise<{ raw: Buffer; html: string; messageId: string; confirmUrl: string }> {
    const expires = Math.floor(this.now().getTime() / 1000) + this.config.web.confirmTtlHours * 3600;
    const confirmUrl = signedUrl(this.links, addressKey(subscriber.email), 'confirm', expires);
    const view = {
      list: this.config.list,
      email: subscriber.email,
      greeting: greetingFor(subscriber),
      confirmUrl,
      ttlHours: this.config.web.confirmTtlHours,
    };
    const { html } = await mjml2html(this.templates.mjml(view), { validationLevel: 'strict', fonts: {} });
    const messageId = `<confirm-${randomBytes(8).toString('hex')}@${this.config.list.id}>`;
    const raw = await composeMessage({
      from: this.config.list.from,
      replyTo: this.config.list.replyTo,
      to: { name: subscriber.name, address: subscriber.email },
      subject: `Confirm your subscription to ${this.config.list.name}`,
      text: this.templates.text(view),
      html,
      messageId,
      date: this.now(),
    });
    return { raw, html, messageId, confirmUrl };
  }

  /** Queues the email; failures are logged (without the link), never thrown at the caller. */
  send(subscriber: Subscriber): void {
    const job = (async () => {
      try {
        const message = await this.compose(subscriber);
        const { result } = await this.dispatcher.send({
          sectionDate: 'confirmations',
          recipient: subscriber.email,
          messageId: message.messageId,
          raw: message.raw,
          html: message.html,
          envelope: { from: this.config.list.from.address, to: subscriber.email },
        });
        if (result.ok) this.log('info', 'confirmation email sent', { messageId: message.messageId });
        else this.log('warn', 'confirmation email not delivered', { kind: result.kind, reason: result.reason });
      } catch (err) {
        this.log('error', 'confirmation email failed', { error: (err as Error).message });
      }
    })();
    this.inFlight.add(job);
    void job.finally(() => this.inFlight.delete(job));
  }

  /**
   * Waits up to `graceMs` for queued emails, then abandons the rest (logged; the reader can
   * ask again) and closes the transport, so shutdown never hangs behind a long queue.
   */
  async close(graceMs = 10_000): Promise<void> {
    const all = Promise.all([...this.inFlight]);
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
    if (timedOut) {
      this.log('warn', 'shutting down with confirmation emails unsent', { unsent: this.inFlight.size });
      this.dispatcher.stop('signal');
      await all;
    }
    await this.transport.close();
  }

  /** Resolves when every queued email has been handed over (tests, graceful shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }
}
