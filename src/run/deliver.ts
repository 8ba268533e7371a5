import { createHash } from 'node:crypto';
import { addressKey, type EmailFormat, type Subscriber } from '../audience/schema.js';
import { matcherFor, preferenceKey, type SelectedPaper } from '../audience/select.js';
import type { Section } from '../digest/types.js';
import type { Config } from '../config/load.js';
import { topicProblem } from '../audience/load.js';
import type { Problem } from '../errors.js';
import type { Store } from '../store/store.js';
import type { ClaimedDelivery, DeliveryOutcome, DeliveryRecord, NewDelivery, StoredSubscriber } from '../store/types.js';
import { HeapBudget } from './heap-budget.js';
import { isDeadLocalOwner } from './owner.js';
import { runSender } from './senders.js';
import { readerHour, readerZone, type ListTiming } from '../cadence/due.js';
import { hourStart } from '../cadence/time.js';
import { readerTiming } from '../audience/preferences.js';
import type { ComposeInput } from '../mail/compose.js';
import { encodeCopy, encodeVariant, HeaderWriter, RawBufferPool, spliceMessage, type EncodedVariant } from '../mail/splice.js';
import { messageIdFor } from '../mail/message-id.js';
import { SpliceThreads, type PostedCopy } from '../mail/splice-threads.js';
import { feedbackId } from '../mail/compliance.js';
import type { Dispatcher } from '../mail/flow.js';
import type { SendResult } from '../mail/transport.js';
import { LRUCache } from 'lru-cache';
import { fill, personalFields } from '../render/personalise.js';
import { readerCopy, renderVariant, variantKey, type RenderedEmail, type ReaderCopy, type RenderedVariant, type RenderSettings } from '../render/render.js';
import { scopeOf } from '../mail/transport.js';
import type { CompiledTemplates } from '../render/templates.js';
import { classifyPaper, type CompiledTaxonomy } from '../topics/classify.js';
import { recipientLinks, webVersionUrl, type LinkSettings } from '../tokens/links.js';
import { feedbackUrl } from '../tokens/feedback.js';
import { reasonGroup, sortedReasons } from './reasons.js';

export type Outcome = 'sent' | 'failed' | 'skipped' | 'pending';

export interface DeliveryCounts {
  sent: number;
  skippedNoMatch: number;
  failed: number;
  /** Delivered, skipped or permanently failed by an earlier run. */
  alreadyDone: number;
  /** Subscribed after this section started going out: they get the next one. */
  notEligible: number;
  /** Not attempted because the run stopped early (daily quota, SIGTERM): the next run sends them. */
  pending: number;
  /** Dry run: messages that would go out. */
  wouldSend: number;
  /** Readers whose own hour (or, on a scheduler tick, the list's) has not come yet on the section's day: a later pass sends them. */
  notDueYet: number;
  /** Readers paused on the section's day: never sent it (recorded as cancelled). */
  paused: number;
  /** Weekly readers: the section is recorded deferred and goes in their next roll-up. */
  deferred: number;
  /** Failures recorded against recipients, grouped by reason (addresses masked), most first. */
  reasons: { reason: string; count: number }[];
}

export const emptyCounts = (): DeliveryCounts => ({ sent: 0, skippedNoMatch: 0, failed: 0, alreadyDone: 0, notEligible: 0, pending: 0, wouldSend: 0, notDueYet: 0, paused: 0, deferred: 0, reasons: [] });

function countReason(reasons: Map<string, number>, reason: string): void {
  const key = reasonGroup(reason);
  reasons.set(key, (reasons.get(key) ?? 0) + 1);
}

export interface SectionDeliveryResult {
  counts: DeliveryCounts;
  /** Distinct paper sets (render keys) this section needed. */
  variants: number;
  /** Variant renders done: equal to `variants` unless the cache had to evict and render again. */
  renders: number;
  /** Everyone has a final outcome: the section is `sent`. */
  complete: boolean;
  largestHtmlBytes: number;
  role: SectionRole;
}

export interface DeliveryContext {
  config: Config;
  templates: CompiledTemplates;
  taxonomy: CompiledTaxonomy;
  renderSettings: RenderSettings;
  links: LinkSettings;
  store: Store;
  /** This sender's claim owner id (see owner.ts). */
  owner: string;
  /** Topic ids of the taxonomy: a stored subscriber naming another is reported and skipped. */
  topicIds: ReadonlySet<string>;
  /** Receives each stored subscriber that cannot be used (reported once per run by the caller). */
  report?: ((problem: Problem) => void) | undefined;
  /** null in a dry run: nothing is sent and nothing recorded. */
  dispatcher: Dispatcher | null;
  runAt: Date;
  concurrency: number;
  onOutcome?: ((outcome: Outcome) => void) | undefined;
  /** How many messages this section will try to send (for progress). */
  onPlanned?: ((count: number) => void) | undefined;
  /**
   * When readers hear from the digest (issue 12): a reader with their own hour or time zone is
   * sent a section on the first pass at or after that hour on its day; a paused reader is never
   * sent a section dated before the day they return. With `holdForListHour` (scheduler ticks)
   * the other readers wait for the list's hour too; a manual run sends them at once.
   */
  timing?: { list: ListTiming; holdForListHour: boolean } | undefined;
  /** Send a section that was sent already (run --section DATE): nobody gets it twice. */
  reopenSent?: boolean | undefined;
  /** Something went wrong that the pass survives (a lease renewal failed). */
  onWarning?: ((message: string) => void) | undefined;
}

export function greetingFor(subscriber: Subscriber): string {
  return subscriber.name ? `Hi ${subscriber.name},` : 'Hello,';
}

/** One reader copy of a variant, ready to splice: the email and its MIME parts with the copy's fields encoded in. */
export interface PreparedCopy {
  rendered: RenderedEmail & { encoded: EncodedVariant };
}

/**
 * A rendered variant with its MIME parts encoded once, and its reader copies prepared so far
 * (held by the variant, so they go when it leaves the cache).
 */
export type EncodedRender = RenderedVariant & { encoded: EncodedVariant; copies: WeakMap<ReaderCopy, PreparedCopy> };

/** Bytes of a variant as the cache counts them (strings UTF-16: two bytes a character; encoded parts one). */
function variantBytes(variant: EncodedRender): number {
  let bytes = 1024;
  for (const fillable of [variant.html, variant.text]) for (const part of fillable.parts) bytes += 2 * part.length;
  for (const body of [variant.encoded.html, variant.encoded.text]) {
    for (const chunk of body.chunks) bytes += Buffer.isBuffer(chunk) ? chunk.length : chunk.parts.reduce((n, p) => n + 2 * p.length, 0);
  }
  return bytes;
}

/** The copy of `variant` for one reader copy, prepared once per copy. */
export function preparedCopy(variant: EncodedRender, copy: ReaderCopy): PreparedCopy {
  let prepared = variant.copies.get(copy);
  if (!prepared) {
    prepared = { rendered: { ...variant, ...copy, encoded: encodeCopy(variant.encoded, copy) } };
    variant.copies.set(copy, prepared);
  }
  return prepared;
}

/** Memory for rendered variants of one section, least recently used out first. Readers are sent grouped by paper set, so a few variants in memory suffice. */
export const VARIANT_CACHE_BYTES = 8 * 1024 * 1024;

/**
 * Renders once per distinct paper set (the render key, see variantKey), encodes its MIME parts
 * once, and keeps variants in an LRU bounded by bytes: a day with many subscribers costs one
 * MJML render per paper set and memory that does not grow with the list. Reader copies
 * (reasons, summary, subject) are cheap and computed per selection.
 */
export class VariantCache {
  private readonly renders: LRUCache<string, EncodedRender>;
  private readonly pending = new Map<string, Promise<EncodedRender>>();
  private readonly keys = new Set<string>();
  /** Variant renders done (each one paper set; a re-render after eviction counts again). */
  renderCount = 0;

  constructor(
    private readonly templates: CompiledTemplates,
    private readonly templatesDir: string,
    private readonly settings: RenderSettings,
    maxBytes = VARIANT_CACHE_BYTES,
  ) {
    this.renders = new LRUCache({ maxSize: maxBytes, sizeCalculation: variantBytes });
  }

  /** Distinct paper sets seen. */
  get size(): number {
    return this.keys.size;
  }

  variant(section: Section, selected: readonly SelectedPaper[], format?: EmailFormat): Promise<EncodedRender> {
    const key = variantKey(selected, format, section.days);
    this.keys.add(key);
    const cached = this.renders.get(key);
    if (cached) return Promise.resolve(cached);
    let pending = this.pending.get(key);
    if (!pending) {
      this.renderCount++;
      pending = renderVariant(this.templates, this.templatesDir, section, selected, this.settings, format)
        .then((v) => {
          const encoded: EncodedRender = { ...v, encoded: encodeVariant(v), copies: new WeakMap() };
          // Cached before the pending entry goes, so no caller in between renders it again.
          this.renders.set(key, encoded);
          return encoded;
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  /** One reader's email: the shared variant plus the copy for their selection. */
  async render(section: Section, selected: readonly SelectedPaper[], format?: EmailFormat): Promise<RenderedEmail & { encoded: EncodedVariant }> {
    const variant = await this.variant(section, selected, format);
    return preparedCopy(variant, readerCopy(this.templates, section, selected, this.settings, variant.trim, format)).rendered;
  }
}

/** The email holds every paper of the day in digest order: its web version is the public issue page. */
export function isWholeIssue(rendered: Pick<RenderedEmail, 'paperIds'>, section: Section): boolean {
  return rendered.paperIds.length === section.papers.length && section.papers.every((p, i) => p.id === rendered.paperIds[i]);
}

/**
 * The id of an issue in Message-ID, Feedback-ID and the outbox folder: a daily issue's section
 * date, a roll-up's key with "-" for ":" ("weekly-2025-11-10"; a colon is not allowed there).
 */
export function mailIssueId(issue: string): string {
  return issue.replace(/:/g, '-');
}

/** One recipient's header fields and slot values. */
function recipientFields(config: Config, rendered: RenderedEmail, section: Section, subscriber: Subscriber & { id?: number; tokenGeneration?: number }, links: LinkSettings, date: Date, issue = section.date) {
  // A roll-up has no page of its own: its web version is the archive page of its last day.
  const personalView = section.days === undefined && !isWholeIssue(rendered, section);
  const personal = personalFields(rendered, {
    greeting: greetingFor(subscriber),
    email: subscriber.email,
    ...recipientLinks(links, addressKey(subscriber.email), date, subscriber.tokenGeneration),
    webUrl: webVersionUrl(links, section.date, personalView ? { email: addressKey(subscriber.email), now: date, linkGeneration: subscriber.tokenGeneration } : null),
    feedbackUrl: feedbackUrl(links, subscriber, date),
  });
  const mailId = mailIssueId(issue);
  const messageId = messageIdFor(mailId, subscriber.email, config.list.id);
  const headers: Omit<ComposeInput, 'text' | 'html'> = {
    from: config.list.from,
    replyTo: config.list.replyTo,
    to: { name: subscriber.name, address: subscriber.email },
    subject: rendered.subject,
    messageId,
    date,
    feedbackId: feedbackId(mailId, 'digest', config.list.id),
    list: {
      name: config.list.name,
      id: config.list.id,
      unsubscribeUrl: personal.unsubscribeUrl,
      unsubscribeMailto: config.list.unsubscribeMailto,
    },
  };
  return { personal, messageId, headers };
}

/** One recipient's finished message from an encoded variant: headers built, personal fields spliced in. */
export function spliceFor(
  config: Config,
  rendered: RenderedEmail & { encoded: EncodedVariant },
  section: Section,
  /** A stored subscriber: its tokenGeneration goes into the links (revocation), its id into the feedback links. */
  subscriber: Subscriber & { id?: number; tokenGeneration?: number },
  links: LinkSettings,
  date: Date,
  headerWriter?: HeaderWriter,
  /** The delivery's issue key (default: the section's date, a daily issue). */
  issue?: string,
  /** Where the bytes go: the caller gives them back once the transport has accepted them. */
  buffers?: RawBufferPool,
): { raw: Buffer; messageId: string; html: () => string } {
  const { personal, messageId, headers } = recipientFields(config, rendered, section, subscriber, links, date, issue);
  return { raw: spliceMessage(rendered.encoded, headers, personal, headerWriter, buffers), messageId, html: () => fill(rendered.html, personal, true) };
}

/** One recipient's message with its HTML and text bodies (CLI render, preview): the same bytes a run sends. */
export async function composeFor(
  config: Config,
  rendered: RenderedEmail & { encoded?: EncodedVariant },
  section: Section,
  subscriber: Subscriber & { id?: number; tokenGeneration?: number },
  links: LinkSettings,
  date: Date,
): Promise<{ raw: Buffer; html: string; text: string; messageId: string }> {
  const { personal, messageId, headers } = recipientFields(config, rendered, section, subscriber, links, date);
  const raw = spliceMessage(rendered.encoded ?? encodeVariant(rendered), headers, personal);
  return { raw, html: fill(rendered.html, personal, true), text: fill(rendered.text, personal, false), messageId };
}

/** The documented rule for a message over limits.maxMessageBytes: not sent, a permanent failure with the reason. */
function oversize(bytes: number, max: number): SendResult {
  return { ok: false, kind: 'permanent', stage: 'data', reason: `message of ${bytes} bytes is over limits.maxMessageBytes (${max}): not sent` };
}

interface Selection {
  selected: SelectedPaper[];
  /** The reader's format preference (absent: the default for the paper count). */
  format: EmailFormat | undefined;
  /** The render key of the selection (see variantKey). */
  key: string;
  /** Its claim order (see renderGroup). */
  group: string;
  copy: ReaderCopy | null;
}

/**
 * The claim order of a queued delivery: a short hash of its render key, so senders take the
 * readers of one paper set together and each variant is rendered once, then only spliced
 * (any collision only puts two groups side by side).
 */
export function renderGroup(key: string): string {
  return createHash('sha1').update(key).digest('hex').slice(0, 16);
}

/** The JavaScript heap a send keeps itself under (see HeapBudget). */
export const HEAP_BUDGET_BYTES = 112 * 1024 * 1024;

/** Preference sets whose selection and reader copy are kept while a section goes out. */
export const SELECTIONS_KEPT = 1024;

/** Subscribers read per page while planning; memory holds one page, never the list. */
export const PLAN_PAGE_SIZE = 1000;
/**
 * Leases, renewed every third of their length while their holder works: a claim or a planner
 * lease of a dead sender is taken over after this long (at once for a dead process on this host).
 */
export const CLAIM_LEASE_MS = 60_000;
export const PLANNER_LEASE_MS = 60_000;
/** How often a sender with nothing to claim looks again while others still work on the section. */
export const SENDER_POLL_MS = 250;

/** What this process did for a section: planned it (and sent beside the others), or only sent. */
export type SectionRole = 'planner' | 'sender';

/**
 * When a daily reader's email of the section dated `date` is due, and whether they are paused
 * that day (src/cadence: the day and hour are read in the reader's zone, DST gaps and repeats
 * handled there). Without timing settings (tests, preview) everyone is due at once.
 */
export function timingOf(subscriber: Subscriber, date: string, ctx: Pick<DeliveryContext, 'timing'>): { dueAt: Date; paused: boolean } {
  const paused = subscriber.pausedUntil !== undefined && date < subscriber.pausedUntil;
  const timing = ctx.timing;
  const ownTime = subscriber.hour !== undefined || subscriber.timeZone !== undefined;
  if (!timing || (!ownTime && !timing.holdForListHour)) return { dueAt: new Date(0), paused };
  const reader = readerTiming(subscriber);
  return { dueAt: hourStart(date, readerHour(reader, timing.list), readerZone(reader, timing.list)), paused };
}

/** A delivery no later run should attempt again. */
export function isFinal(record: Pick<DeliveryRecord, 'status' | 'permanent'> | undefined): boolean {
  return record !== undefined && (record.status === 'sent' || record.status === 'skipped-no-match' || record.status === 'cancelled' || record.status === 'deferred' || (record.status === 'failed' && record.permanent));
}

/**
 * Group commit of delivery outcomes: callers that arrive while a write is in progress share the
 * next one, and a write waits for the end of the event loop's turn first, so the sends finished
 * by the same turn's socket events share it too (SQLite runs a write synchronously: nothing
 * arrives during one, and groups were of one or two outcomes, a transaction each). Each sender
 * awaits its outcome's commit before taking the next recipient, so a crash can resend at most
 * what was in flight, with the same Message-ID.
 */
export class OutcomeWriter {
  private pending: DeliveryOutcome[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private next: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    /**
     * Fewer outcomes than `enough` waiting at the end of the turn: wait `gatherMs` more for
     * others first (a commit costs about as much as the outcomes in it; 0: never wait).
     */
    private readonly gather: { gatherMs: number; enough: number } = { gatherMs: 0, enough: 0 },
  ) {}

  record(outcome: DeliveryOutcome): Promise<void> {
    this.pending.push(outcome);
    return this.flush();
  }

  flush(): Promise<void> {
    if (this.next) return this.next;
    const next = this.flushing.then(async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.gather.gatherMs > 0 && this.pending.length < this.gather.enough) await new Promise<void>((resolve) => setTimeout(resolve, this.gather.gatherMs));
      this.next = null;
      const batch = this.pending;
      this.pending = [];
      await this.store.completeDeliveries(batch);
    });
    this.next = next;
    this.flushing = next.catch(() => undefined);
    return next;
  }
}

/**
 * How a send gathers outcomes into one commit: up to 2 ms for a quarter of the sends in flight
 * (each sender waits for its outcome's commit, the others keep the connections busy meanwhile).
 */
export const OUTCOME_GATHER = (concurrency: number) => ({ gatherMs: 2, enough: Math.max(2, Math.floor(concurrency / 4)) });

/** What sending one claimed delivery needs besides the delivery: shared by sections and roll-ups. */
export interface SendStep {
  ctx: DeliveryContext;
  dispatcher: Dispatcher;
  counts: DeliveryCounts;
  reasons: Map<string, number>;
  writer: OutcomeWriter;
  headerWriter: HeaderWriter;
  /** Memory the finished messages are written into, reused once each is accepted (see RawBufferPool). */
  buffers?: RawBufferPool | undefined;
  /** Splicing in worker threads (delivery.composeThreads), or null: here. */
  threads?: SpliceThreads | null | undefined;
}

/**
 * The send step of one issue, built here for sections and roll-ups alike, so both group their
 * outcomes into shared commits (OUTCOME_GATHER) and splice where delivery.composeThreads says.
 * The caller closes `threads` when the issue is done.
 */
export function newSendStep(ctx: DeliveryContext, dispatcher: Dispatcher, counts: DeliveryCounts, reasons: Map<string, number>, headerWriter: HeaderWriter): SendStep {
  const writer = new OutcomeWriter(ctx.store, OUTCOME_GATHER(ctx.concurrency));
  return { ctx, dispatcher, counts, reasons, writer, headerWriter, buffers: new RawBufferPool(), threads: spliceThreadsFor(ctx) };
}

/** What one reader is sent for a claimed delivery; null when nothing matches any more (recorded skipped). */
export type PreparedSend = { rendered: RenderedEmail & { encoded: EncodedVariant }; section: Section } | null;

/**
 * Sends one claimed delivery of `issue` (sections and roll-ups): a stopping pass leaves it
 * pending, a reader no longer active is recorded cancelled, one `prepare` finds nothing for is
 * recorded skipped, the rest is sent (sendRendered). False: left pending.
 */
export function claimedSender(step: SendStep, issue: string, prepare: (delivery: ClaimedDelivery, subscriber: StoredSubscriber) => Promise<PreparedSend>): (delivery: ClaimedDelivery) => Promise<boolean> {
  const { ctx, dispatcher, counts, writer } = step;
  const at = () => new Date().toISOString();
  return async (delivery) => {
    if (dispatcher.stopReason) {
      ctx.onOutcome?.('pending');
      return false; // released by runSender, still queued for the next pass
    }
    const subscriber = delivery.subscriber;
    if (!subscriber || subscriber.status !== 'active') {
      // Unsubscribed (or removed) after being queued: nothing is sent.
      await writer.record({ id: delivery.id, status: 'cancelled', reason: subscriber ? `status ${subscriber.status}` : 'removed from the list', at: at() });
      return true;
    }
    const prepared = await prepare(delivery, subscriber);
    if (!prepared) {
      counts.skippedNoMatch++;
      ctx.onOutcome?.('skipped');
      await writer.record({ id: delivery.id, status: 'skipped-no-match', at: at() });
      return true;
    }
    return sendRendered(step, delivery, subscriber, prepared.rendered, prepared.section, issue);
  };
}

/** The splice threads of a send (delivery.composeThreads; never for the outbox, which keeps an HTML copy), or null. */
export function spliceThreadsFor(ctx: Pick<DeliveryContext, 'config' | 'links'>): SpliceThreads | null {
  const count = ctx.config.delivery.composeThreads;
  if (!count || ctx.config.transport.type === 'outbox') return null;
  return new SpliceThreads(count, { list: ctx.config.list, links: ctx.links });
}

/** One recipient's message spliced in a worker thread: the same bytes as spliceFor here. */
async function spliceInThread(
  threads: SpliceThreads,
  rendered: RenderedEmail & { encoded: EncodedVariant },
  section: Section,
  subscriber: StoredSubscriber,
  issue: string,
): Promise<{ raw: Buffer; messageId: string; html?: undefined }> {
  const posted = (): PostedCopy => ({
    rendered: { subject: rendered.subject, preheader: rendered.preheader, summary: rendered.summary, reasons: rendered.reasons, paperIds: rendered.paperIds, encoded: rendered.encoded },
    section: { date: section.date, ...(section.days !== undefined ? { days: section.days } : {}), papers: section.papers.map((p) => ({ id: p.id })) },
  });
  const who = { email: subscriber.email, name: subscriber.name, id: subscriber.id, tokenGeneration: subscriber.tokenGeneration };
  return threads.splice(rendered, posted, { subscriber: who, date: Date.now(), issue });
}

/**
 * Sends one reader's rendered email for `issue` and records the outcome (with the paper ids it
 * carried when sent); false leaves the delivery pending (quota, session, stopping).
 */
export async function sendRendered(
  step: SendStep,
  delivery: ClaimedDelivery,
  subscriber: StoredSubscriber,
  rendered: RenderedEmail & { encoded: EncodedVariant },
  section: Section,
  issue: string,
): Promise<boolean> {
  const { ctx, dispatcher, counts, writer } = step;
  const at = () => new Date().toISOString();
  const message = step.threads
    ? await spliceInThread(step.threads, rendered, section, subscriber, issue)
    : spliceFor(ctx.config, rendered, section, subscriber, ctx.links, new Date(), step.headerWriter, issue, step.buffers);
  const oversized = message.raw.length > ctx.config.limits.maxMessageBytes;
  const { result } = oversized
    ? { result: oversize(message.raw.length, ctx.config.limits.maxMessageBytes) }
    : await dispatcher.send({
        sectionDate: mailIssueId(issue),
        recipient: subscriber.email,
        messageId: message.messageId,
        raw: message.raw,
        html: message.html,
        envelope: { from: ctx.config.list.from.address, to: subscriber.email },
      });
  // Accepted (or never handed over): nothing reads the bytes any more. After a failure a
  // connection torn down mid-message might, so those are left to the garbage collector.
  if (result.ok || oversized) step.buffers?.give(message.raw);
  if (result.ok) {
    counts.sent++;
    ctx.onOutcome?.('sent');
    await writer.record({ id: delivery.id, status: 'sent', at: at(), messageId: message.messageId, papers: rendered.paperIds });
    return true;
  }
  if (result.kind === 'quota' || scopeOf(result.stage) === 'session' || (result.kind === 'transient' && dispatcher.stopReason)) {
    // Not delivered and not the recipient's fault (the relay or the configuration refused
    // the session, or the run is stopping): nothing is recorded, the next pass sends it.
    ctx.onOutcome?.('pending');
    return false;
  }
  counts.failed++;
  countReason(step.reasons, result.reason);
  ctx.onOutcome?.('failed');
  await writer.record({
    id: delivery.id,
    status: 'failed',
    at: at(),
    messageId: message.messageId,
    reason: result.reason,
    stage: result.stage,
    permanent: result.kind === 'permanent',
  });
  return true;
}

/** The send step of one issue (a section or a roll-up key) in this process: claim, send, record; outcomes flushed at the end. */
export async function sendIssue(step: SendStep, issue: string, send: (delivery: ClaimedDelivery) => Promise<boolean>, planning: () => Promise<boolean>): Promise<void> {
  const { ctx, dispatcher } = step;
  try {
    await runSender({
      store: ctx.store,
      issue,
      owner: ctx.owner,
      batchSize: ctx.concurrency * 4,
      concurrency: ctx.concurrency,
      leaseMs: CLAIM_LEASE_MS,
      pollMs: SENDER_POLL_MS,
      send,
      stopped: () => dispatcher.stopReason !== null,
      planning,
      isDeadOwner: isDeadLocalOwner,
      onRenewError: (err) => ctx.onWarning?.(`renewing the claims of ${issue} failed: ${(err as Error).message}`),
    });
  } finally {
    await step.writer.flush();
  }
}

/**
 * Sends one section to every eligible subscriber who has no final outcome for it yet, in two
 * steps. Plan: stream the active subscribers first seen by the section's opening in keyset
 * pages and queue a delivery row for each (a skip is recorded at once). Send: claim batches of
 * queued rows, send them with bounded concurrency and record each outcome (runSender).
 *
 * Several processes (on one machine or several, on PostgreSQL) can work on one section at
 * once: one of them holds the section's planner lease, plans, sends beside the others, and
 * marks the section sent once nobody is left; the others only send, looking again while the
 * planner is still at work. A planner that dies (killed on this host, or its lease expired)
 * is replaced by one of the senders, which plans again (idempotent) and finishes the section.
 */
export async function deliverSection(section: Section, ctx: DeliveryContext): Promise<SectionDeliveryResult> {
  const { store, dispatcher } = ctx;
  const dryRun = dispatcher === null;
  const runAt = ctx.runAt.toISOString();
  const previous = await store.section(section.date);
  // Opened atomically: workers starting together agree on the opening time, and the hash of
  // what went out first stays, so an edit after sending remains visible.
  const opened = dryRun
    ? { openedAt: previous?.openedAt ?? runAt, hash: previous?.status === 'sent' || previous?.status === 'sending' ? previous.hash : section.hash }
    : await store.openSection(section.date, section.hash, runAt, ctx.reopenSent);
  const openedAt = opened.openedAt ?? runAt;
  const hash = opened.hash;
  const counts = emptyCounts();
  // Another worker finished it between this pass's planning and now: nothing left to do.
  if ('status' in opened && opened.status === 'sent') return { counts, variants: 0, renders: 0, complete: true, largestHtmlBytes: 0, role: 'sender' };

  const papers = section.papers.map((p) => classifyPaper(p, ctx.taxonomy));
  // Per preference set: the selection and, once its variant is known, the reader's copy. Bounded:
  // a set pushed out is selected again when next met (claims come grouped by paper set).
  const selections = new LRUCache<string, Selection>({ max: SELECTIONS_KEPT });
  const variants = new VariantCache(ctx.templates, ctx.config.paths.templates, ctx.renderSettings);
  const reasons = new Map<string, number>();
  let largestHtmlBytes = 0;

  const selectionFor = (subscriber: Subscriber): Selection => {
    const prefKey = preferenceKey(subscriber);
    let selection = selections.get(prefKey);
    if (!selection) {
      const selected = matcherFor(subscriber).select(papers);
      const key = variantKey(selected, subscriber.format);
      selection = { selected, format: subscriber.format, key, group: renderGroup(key), copy: null };
      selections.set(prefKey, selection);
    }
    return selection;
  };
  const renderFor = async (selection: Selection) => {
    const variant = await variants.variant(section, selection.selected, selection.format);
    selection.copy ??= readerCopy(ctx.templates, section, selection.selected, ctx.renderSettings, variant.trim, selection.format);
    largestHtmlBytes = Math.max(largestHtmlBytes, variant.htmlBytes);
    return preparedCopy(variant, selection.copy).rendered;
  };
  const headerWriter = new HeaderWriter();
  const heap = new HeapBudget(HEAP_BUDGET_BYTES);

  // --- plan -----------------------------------------------------------------------------
  // A dry run before the section opens counts subscribers not seen yet as seen now.
  const includeUnseen = dryRun && openedAt === runAt;
  const plan = async () => {
    if (!dryRun) {
      // Claims of a sender that died (killed on this host, or expired) go back to the queue,
      // and transient failures of earlier runs are tried again.
      await store.resetStaleClaims(section.date, new Date(), isDeadLocalOwner);
      await store.requeueDeliveries({ issue: section.date, status: 'failed' }, runAt);
    }
    for await (const page of store.streamSubscribers({ status: 'active', firstSeenBy: openedAt, includeUnseen, limit: PLAN_PAGE_SIZE })) {
      for (const problem of page.problems) ctx.report?.(problem);
      const valid = page.subscribers.filter((s) => {
        const problem = topicProblem(s, ctx.topicIds);
        if (problem) ctx.report?.({ where: `subscriber ${s.email}`, ...problem });
        return !problem;
      });
      heap.check(page.subscribers.length);
      const existing = await store.deliveriesFor(section.date, valid.map((s) => addressKey(s.email)));
      const fresh: NewDelivery[] = [];
      for (const subscriber of valid) {
        const key = addressKey(subscriber.email);
        const record = existing.get(key);
        if (isFinal(record)) {
          counts.alreadyDone++;
          continue;
        }
        if (record && !dryRun) continue; // queued by an earlier pass: the send step takes it
        const when = timingOf(subscriber, section.date, ctx);
        if (when.paused) {
          // Final: what is dated inside a pause is never sent, not later either.
          if (!dryRun) fresh.push({ issue: section.date, sections: [section.date], emailKey: key, subscriberId: subscriber.id, status: 'cancelled', reason: `paused until ${subscriber.pausedUntil}`, at: runAt });
          counts.paused++;
          continue;
        }
        if (subscriber.cadence === 'weekly') {
          // Final for the section: a roll-up (src/run/rollup.ts) carries its papers.
          if (!dryRun) fresh.push({ issue: section.date, sections: [section.date], emailKey: key, subscriberId: subscriber.id, status: 'deferred', reason: 'weekly reader: in their next roll-up', at: runAt });
          counts.deferred++;
          continue;
        }
        if (when.dueAt > ctx.runAt) {
          counts.notDueYet++;
          continue;
        }
        const selection = selectionFor(subscriber);
        if (selection.selected.length === 0) {
          counts.skippedNoMatch++;
          ctx.onOutcome?.('skipped');
          fresh.push({ issue: section.date, sections: [section.date], emailKey: key, subscriberId: subscriber.id, status: 'skipped-no-match', at: runAt });
          continue;
        }
        if (dryRun) {
          await renderFor(selection);
          counts.wouldSend++;
          continue;
        }
        fresh.push({ issue: section.date, sections: [section.date], emailKey: key, subscriberId: subscriber.id, status: 'queued', renderGroup: selection.group, at: runAt });
      }
      if (!dryRun && fresh.length > 0) await store.insertDeliveries(fresh);
    }
    const active = await store.countSubscribers({ status: 'active' });
    counts.notEligible = active - (await store.countSubscribers({ status: 'active', firstSeenBy: openedAt, includeUnseen }));
  };
  if (dryRun) {
    await plan();
    return { counts, variants: variants.size, renders: variants.renderCount, complete: false, largestHtmlBytes, role: 'planner' };
  }

  // The planner lease, renewed while this process plans and sends; whoever holds it marks the
  // section sent at the end. Lost (this process froze past the lease) means another took over.
  let planner = false;
  let renewal: NodeJS.Timeout | null = null;
  const becomePlanner = async (): Promise<boolean> => {
    if (!(await store.acquirePlanner(section.date, ctx.owner, new Date(), PLANNER_LEASE_MS, isDeadLocalOwner))) return false;
    planner = true;
    renewal = setInterval(() => {
      store.acquirePlanner(section.date, ctx.owner, new Date(), PLANNER_LEASE_MS).then(
        (held) => {
          if (!held) planner = false;
        },
        (err: unknown) => ctx.onWarning?.(`renewing the planner lease of ${section.date} failed: ${(err as Error).message}`),
      );
    }, Math.floor(PLANNER_LEASE_MS / 3));
    await plan();
    return true;
  };
  // Told by runSender when nothing is left to claim: another live planner may still queue more.
  const plannerBusy = async (): Promise<boolean> => {
    if (planner) return false;
    const holder = await store.plannerOf(section.date);
    if (holder === null) return false; // it finished and let go
    if (holder.expiresAt >= new Date().toISOString() && !isDeadLocalOwner(holder.owner)) return true;
    // The planner died part way: plan again here (idempotent) and finish the section.
    return becomePlanner();
  };

  let stopThreads: (() => Promise<void> | undefined) | null = null;
  try {
    const role: SectionRole = (await becomePlanner()) ? 'planner' : 'sender';
    // --- send ---------------------------------------------------------------------------
    const queued = await store.countDeliveries(section.date);
    ctx.onPlanned?.(queued.queued + queued.claimed);
    const step = newSendStep(ctx, dispatcher, counts, reasons, headerWriter);
    stopThreads = () => step.threads?.close();
    const send = claimedSender(step, section.date, async (_delivery, subscriber) => {
      const selection = selectionFor(subscriber);
      return selection.selected.length === 0 ? null : { rendered: await renderFor(selection), section };
    });
    const sendOne = (delivery: ClaimedDelivery): Promise<boolean> => {
      heap.check();
      return send(delivery);
    };
    await sendIssue(step, section.date, sendOne, plannerBusy);

    counts.reasons = sortedReasons(reasons);
    const left = await store.countDeliveries(section.date);
    counts.pending = left.queued + left.claimed;
    // Anyone left pending (stopped early, or claimed by another sender) or failed transiently
    // keeps the section open; only its planner closes it (a sender cannot know all were queued).
    let complete = false;
    // Readers whose hour has not come yet keep it open for a later pass as well.
    if (planner && counts.notDueYet === 0 && (await store.unfinishedDeliveries(section.date)) === 0) {
      const sentAt = new Date().toISOString();
      await store.putSection(section.date, { status: 'sent', hash, at: sentAt, openedAt, sentAt });
      complete = true;
    } else if (!planner) {
      complete = (await store.section(section.date))?.status === 'sent';
    }
    return { counts, variants: variants.size, renders: variants.renderCount, complete, largestHtmlBytes, role: planner ? 'planner' : role };
  } finally {
    if (renewal) clearInterval(renewal);
    await stopThreads?.();
    if (planner) await store.releasePlanner(section.date, ctx.owner);
  }
}
