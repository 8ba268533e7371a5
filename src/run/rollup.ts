import { addressKey, type Subscriber } from '../audience/schema.js';
import { matcherFor, type SelectedPaper } from '../audience/select.js';
import { readerTiming } from '../audience/preferences.js';
import type { ListTiming, ReaderTiming } from '../cadence/due.js';
import { rollUp, type RollUpDay } from '../cadence/rollup.js';
import { addDays, localDay } from '../cadence/time.js';
import type { Paper, Section } from '../digest/types.js';
import { topicProblem } from '../audience/load.js';
import { readerCopy, variantKey } from '../render/render.js';
import type { DeliveryRecord, NewDelivery, StoredSubscriber } from '../store/types.js';
import { HeaderWriter } from '../mail/splice.js';
import { classifyPaper, type ClassifiedPaper } from '../topics/classify.js';
import {
  PLAN_PAGE_SIZE,
  VariantCache,
  claimedSender,
  emptyCounts,
  isFinal,
  newSendStep,
  preparedCopy,
  renderGroup,
  sendIssue,
  type DeliveryContext,
  type DeliveryCounts,
} from './deliver.js';
import { isDeadLocalOwner } from './owner.js';
import { sortedReasons } from './reasons.js';
import { isRollupIssue, papersTaken, planRollup, rollupDue, type HistoryRow } from './plan.js';

/** What a pass did for one roll-up issue key (every reader whose issue has that key). */
export interface RollupOutcome {
  issue: string;
  counts: DeliveryCounts;
  variants: number;
  renders: number;
  /** Everyone planned for it has a final outcome. */
  complete: boolean;
}

/** How many days back a pass looks for deferred sections and what was sent (two weeks and the carry). */
export const ROLLUP_LOOKBACK_DAYS = 22;

/**
 * The reader's timing as the run applies it: without timing settings (tests, a manual run for a
 * reader with no hour or zone of their own) a roll-up is due from the start of its day, as a
 * daily section is sent at once; on a scheduler pass the list's hour holds it.
 */
function timingFor(subscriber: Subscriber, ctx: Pick<DeliveryContext, 'timing' | 'config'>): { reader: ReaderTiming; list: ListTiming } {
  const reader = readerTiming(subscriber);
  const list = ctx.timing?.list ?? { timeZone: ctx.config.timezone, hour: 0 };
  const ownTime = subscriber.hour !== undefined || subscriber.timeZone !== undefined;
  if (!ctx.timing) return { reader: { ...reader, hour: 0 }, list };
  if (!ownTime && !ctx.timing.holdForListHour) return { reader, list: { ...list, hour: 0 } };
  return { reader, list };
}

/** The papers of one roll-up and what it renders as. */
export interface RollupSelection {
  days: RollUpDay<SelectedPaper & { id: string }>[];
  selected: SelectedPaper[];
  /** The synthetic section it renders from (see Section.days). */
  section: Section;
}

/**
 * One reader's roll-up over `dates`: from each section the papers they match, ranked as in a
 * daily email, minus `exclude` (already sent to them), each once (its earliest day), grouped by
 * day in date order; `only` limits it to a planned set (a claimed row's papers). Pure.
 */
export function selectRollup(
  subscriber: Subscriber,
  dates: readonly string[],
  classified: (date: string) => { section: Section; papers: ClassifiedPaper[] } | undefined,
  exclude: ReadonlySet<string>,
  only?: ReadonlySet<string>,
): RollupSelection | null {
  const matcher = matcherFor(subscriber);
  const dated = dates.flatMap((date) => {
    const found = classified(date);
    if (!found) return [];
    const papers = matcher.select(found.papers).map((s) => ({ ...s, id: s.paper.id })).filter((s) => only === undefined || only.has(s.id));
    return [{ date, papers, all: found.section.papers }];
  });
  if (dated.length === 0) return null;
  const days = rollUp(dated, { from: dated[0]!.date, to: dated[dated.length - 1]!.date }, exclude);
  if (days.length === 0) return null;
  const selected = days.flatMap((d) => d.papers.map(({ paper, why }) => ({ paper, why })));
  const seen = new Set<string>();
  const all: Paper[] = [];
  for (const d of dated) for (const p of d.all) if (!seen.has(p.id)) (seen.add(p.id), all.push(p));
  const last = days[days.length - 1]!.date;
  const section: Section = {
    date: last,
    range: null,
    source: `roll-up of ${dates.join(', ')}`,
    hash: '',
    papers: all,
    days: days.map((d) => ({ date: d.date, count: d.papers.length })),
  };
  return { days, selected, section };
}

function historyOf(records: readonly DeliveryRecord[]): HistoryRow[] {
  return records.map((r) => ({ issue: r.issue, status: r.status, permanent: r.permanent, sections: r.sections, papers: r.papers }));
}

/**
 * Plans and sends the roll-ups due at this pass (issue 12, weekly cadence): each reader with
 * sections deferred for them (they read weekly) gets, on their weekday at their hour (or, after
 * switching to daily, on the next pass at their hour), one email of their matched papers from
 * those sections, none already sent to them. The delivery row is one per reader per
 * `weekly:DAY` (or `catchup:DAY`) key, its sections and papers fixed when it is planned; it is
 * claimed and sent like a section's, so a crash is finished by the next pass with the same
 * Message-ID (derived from the key) and duplicates bounded by what was in flight.
 */
export async function deliverRollups(sections: readonly Section[], ctx: DeliveryContext): Promise<RollupOutcome[]> {
  const { store, dispatcher } = ctx;
  const dryRun = dispatcher === null;
  const runAt = ctx.runAt.toISOString();
  const since = addDays(localDay(ctx.runAt, 'UTC'), -ROLLUP_LOOKBACK_DAYS);
  const byDate = new Map(sections.filter((s) => s.date >= since && s.papers.length > 0).map((s) => [s.date, s]));
  const dates = [...byDate.keys()].sort();
  if (dates.length === 0) return [];
  const classifiedCache = new Map<string, { section: Section; papers: ClassifiedPaper[] }>();
  const classified = (date: string) => {
    let found = classifiedCache.get(date);
    if (!found) {
      const section = byDate.get(date);
      if (!section) return undefined;
      found = { section, papers: section.papers.map((p) => classifyPaper(p, ctx.taxonomy)) };
      classifiedCache.set(date, found);
    }
    return found;
  };
  const papersOf = (date: string) => byDate.get(date)?.papers.map((p) => p.id) ?? [];

  const owedBy = await store.deferredReaders(dates);
  if (owedBy.size === 0) return [];
  const outcomes = new Map<string, RollupOutcome>();
  const outcomeOf = (issue: string): RollupOutcome => {
    let o = outcomes.get(issue);
    if (!o) outcomes.set(issue, (o = { issue, counts: emptyCounts(), variants: 0, renders: 0, complete: false }));
    return o;
  };
  const variants = new VariantCache(ctx.templates, ctx.config.paths.templates, ctx.renderSettings);
  const toSend = new Set<string>();

  // --- plan -----------------------------------------------------------------------------
  for await (const page of store.streamSubscribers({ status: 'active', limit: PLAN_PAGE_SIZE })) {
    for (const problem of page.problems) ctx.report?.(problem);
    // Readers owed something whose roll-up is due now; those with a row for its key already
    // (most passes of the week) cost one indexed lookup per key, not their history.
    const byKey = new Map<string, { subscriber: StoredSubscriber; reader: ReaderTiming; list: ListTiming }[]>();
    for (const subscriber of page.subscribers) {
      if (!owedBy.has(addressKey(subscriber.email)) || topicProblem(subscriber, ctx.topicIds)) continue;
      const { reader, list } = timingFor(subscriber, ctx);
      const due = rollupDue(reader, list, ctx.runAt);
      if (due) byKey.set(due.key, [...(byKey.get(due.key) ?? []), { subscriber, reader, list }]);
    }
    const owed: { subscriber: StoredSubscriber; reader: ReaderTiming; list: ListTiming }[] = [];
    for (const [issueKey, group] of byKey) {
      const rows = await store.deliveriesFor(issueKey, group.map((g) => addressKey(g.subscriber.email)));
      for (const g of group) {
        const row = rows.get(addressKey(g.subscriber.email));
        if (!row) owed.push(g);
        else if (!isFinal(row)) toSend.add(issueKey); // planned earlier, not finished (a crash, a stop)
      }
    }
    if (owed.length === 0) continue;
    const histories = await store.readerDeliveries(owed.map((g) => addressKey(g.subscriber.email)), dates);
    const fresh: NewDelivery[] = [];
    for (const { subscriber, reader, list } of owed) {
      const key = addressKey(subscriber.email);
      const history = historyOf(histories.get(key) ?? []);
      // Roll-ups of earlier keys planned and not finished: the send step takes them.
      for (const row of history) if (isRollupIssue(row.issue) && !isFinal({ status: row.status, permanent: row.permanent ?? false })) toSend.add(row.issue);
      const issue = planRollup(reader, list, ctx.runAt, history);
      if (!issue) continue;
      const outcome = outcomeOf(issue.key);
      const selection = selectRollup(subscriber, issue.sections, classified, papersTaken(history, papersOf));
      if (!selection) {
        // Final: those sections are handled for the reader (nothing in them matched, or all was sent).
        outcome.counts.skippedNoMatch++;
        ctx.onOutcome?.('skipped');
        if (!dryRun) fresh.push({ issue: issue.key, sections: issue.sections, emailKey: key, subscriberId: subscriber.id, status: 'skipped-no-match', at: runAt });
        continue;
      }
      const renderKey = variantKey(selection.selected, subscriber.format, selection.section.days);
      if (dryRun) {
        await variants.variant(selection.section, selection.selected, subscriber.format);
        outcome.counts.wouldSend++;
        continue;
      }
      fresh.push({
        issue: issue.key,
        sections: issue.sections,
        emailKey: key,
        subscriberId: subscriber.id,
        status: 'queued',
        renderGroup: renderGroup(renderKey),
        papers: selection.selected.map((s) => s.paper.id),
        at: runAt,
      });
      toSend.add(issue.key);
    }
    if (!dryRun && fresh.length > 0) await store.insertDeliveries(fresh);
  }
  if (dryRun) {
    for (const o of outcomes.values()) o.variants = variants.size;
    return [...outcomes.values()];
  }

  // --- send -----------------------------------------------------------------------------
  const headerWriter = new HeaderWriter();
  for (const issue of [...toSend].sort()) {
    if (dispatcher.stopReason) break;
    const outcome = outcomeOf(issue);
    await store.resetStaleClaims(issue, new Date(), isDeadLocalOwner);
    await store.requeueDeliveries({ issue, status: 'failed' }, runAt);
    const queued = await store.countDeliveries(issue);
    ctx.onPlanned?.(queued.queued + queued.claimed);
    const reasons = new Map<string, number>();
    const step = newSendStep(ctx, dispatcher, outcome.counts, reasons, headerWriter);
    const rendersBefore = variants.renderCount;
    // The papers fixed at planning, selected again for the reasons and order (none excluded:
    // they were chosen as not sent yet); a paper the reader no longer matches drops out.
    const sendOne = claimedSender(step, issue, async (delivery, subscriber) => {
      const selection = selectRollup(subscriber, delivery.sections, classified, new Set(), new Set(delivery.papers ?? []));
      if (!selection) return null;
      const variant = await variants.variant(selection.section, selection.selected, subscriber.format);
      const copy = readerCopy(ctx.templates, selection.section, selection.selected, ctx.renderSettings, variant.trim, subscriber.format);
      return { rendered: preparedCopy(variant, copy).rendered, section: selection.section };
    });
    // Planning a roll-up is idempotent and done by every pass before it sends: no planner to wait for.
    try {
      await sendIssue(step, issue, sendOne, async () => false);
    } finally {
      await step.threads?.close();
    }
    outcome.counts.reasons = sortedReasons(reasons);
    const left = await store.countDeliveries(issue);
    outcome.counts.pending = left.queued + left.claimed;
    outcome.renders = variants.renderCount - rendersBefore;
    outcome.variants = outcome.renders;
    outcome.complete = (await store.unfinishedDeliveries(issue)) === 0;
  }
  return [...outcomes.values()].sort((a, b) => (a.issue < b.issue ? -1 : 1));
}
