import { subscriberStatus } from '../audience/schema.js';
import type { Store } from '../store/store.js';
import type { FeedbackCounts, GrowthDay, SectionDeliveryStats } from '../store/types.js';

/** Growth over one ISO week (Monday to Sunday, UTC days), keyed by its Monday. */
export interface GrowthPeriod extends Omit<GrowthDay, 'day'> {
  /** YYYY-MM-DD: the day, or the Monday of the week. */
  start: string;
}

export type GrowthBy = 'day' | 'week';

/**
 * What `digest-mailer stats` prints and the preview shows: per section what went out and what
 * came back, and the list's growth. Later parts (the feedback counts per paper and per topic)
 * are further optional fields with a formatter of their own in `formatStats`.
 */
export interface StatsReport {
  sections: SectionDeliveryStats[];
  growth: { by: GrowthBy; periods: GrowthPeriod[] };
  /** Subscribers now, by status. */
  totals: Record<string, number>;
  /** "More / less like this" applied, per section and paper and per section and topic (aggregates only). */
  feedback?: FeedbackCounts;
}

/** The Monday (UTC) of the week a YYYY-MM-DD day falls in. */
export function weekStart(day: string): string {
  const date = new Date(`${day}T00:00:00Z`);
  const sinceMonday = (date.getUTCDay() + 6) % 7;
  return new Date(date.getTime() - sinceMonday * 86_400_000).toISOString().slice(0, 10);
}

/** Days as they are, or summed per ISO week; oldest first. Pure. */
export function growthBy(days: readonly GrowthDay[], by: GrowthBy): GrowthPeriod[] {
  const periods = new Map<string, GrowthPeriod>();
  for (const { day, ...counts } of days) {
    const start = by === 'week' ? weekStart(day) : day;
    const period = periods.get(start) ?? { start, new: 0, imported: 0, confirmed: 0, unsubscribed: 0 };
    period.new += counts.new;
    period.imported += counts.imported;
    period.confirmed += counts.confirmed;
    period.unsubscribed += counts.unsubscribed;
    periods.set(start, period);
  }
  return [...periods.values()].sort((a, b) => a.start.localeCompare(b.start));
}

/** Hard bounces (refused at send, or reported permanent by SES) per email handed to the server. */
export function bounceRate(s: SectionDeliveryStats): number | null {
  const attempted = s.sent + s.failed;
  return attempted === 0 ? null : hardBounces(s) / attempted;
}

/** Complaints per email sent. */
export function complaintRate(s: SectionDeliveryStats): number | null {
  return s.sent === 0 ? null : s.complaints / s.sent;
}

/** A rate as a percentage with two decimals (three under 0.1%), or '-' without a base. */
export const percent = (rate: number | null) => (rate === null ? '-' : `${(rate * 100).toFixed(rate > 0 && rate < 0.001 ? 3 : 2)}%`);

/** Refused at send or reported permanent by SES. */
export const hardBounces = (s: SectionDeliveryStats) => s.rejected + s.bounces.permanent;

/** Rows of cells as left-aligned text columns (numbers right-aligned). */
function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r, ri) =>
    r
      .map((cell, i) => (i === 0 || ri === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

export const SECTION_COLUMNS = ['section', 'sent', 'failed', 'rejected', 'skipped', 'deferred', 'pending', 'bounced', 'soft', 'complaints', 'bounce%', 'complaint%'] as const;

export function formatSectionStats(sections: readonly SectionDeliveryStats[]): string[] {
  if (sections.length === 0) return ['No deliveries recorded yet.'];
  return table(
    SECTION_COLUMNS,
    sections.map((s) => [s.date, s.sent, s.failed, s.rejected, s.skipped, s.deferred, s.pending, hardBounces(s), s.bounces.transient, s.complaints, percent(bounceRate(s)), percent(complaintRate(s))]),
  );
}

export function formatGrowth(growth: StatsReport['growth']): string[] {
  if (growth.periods.length === 0) return ['No subscriber changes recorded in that time.'];
  return table([growth.by === 'week' ? 'week of' : 'day', 'new', 'imported', 'confirmed', 'unsubscribed'], growth.periods.map((p) => [p.start, p.new, p.imported, p.confirmed, p.unsubscribed]));
}

/** The feedback counts as two tables: per section and paper, per section and topic (most clicks first). */
export function formatFeedback(feedback: FeedbackCounts): string[] {
  if (feedback.papers.length === 0) return ['No "more / less like this" applied yet.'];
  return [
    ...table(['section', 'paper', 'more', 'less'], feedback.papers.map((p) => [p.section, p.paper, p.more, p.less])),
    '',
    ...(feedback.topics.length === 0 ? ['No topic moved.'] : table(['section', 'topic', 'more', 'less'], feedback.topics.map((t) => [t.section, t.topic, t.more, t.less]))),
  ];
}

/** The whole report as text, one part after another under a heading each. */
export function formatStats(report: StatsReport): string {
  const totals = Object.entries(report.totals).map(([status, n]) => `${n} ${status}`).join(', ');
  return [
    `Subscribers: ${totals || 'none'}`,
    '',
    'Per section (bounced = rejected at send + permanent SES bounces; soft = transient SES bounces):',
    ...formatSectionStats(report.sections),
    '',
    `Subscriber growth per ${report.growth.by} (UTC days; new = subscribe requests and operator adds):`,
    ...formatGrowth(report.growth),
    ...(report.feedback ? ['', '"More / less like this" applied, per section and paper, then per section and topic (an exclusion counts as less):', ...formatFeedback(report.feedback)] : []),
  ].join('\n');
}

/** Builds the report from the store (the only I/O here: three grouped queries and a count per status). */
export async function statsReport(
  store: Pick<Store, 'sectionStats' | 'subscriberGrowth' | 'countSubscribers'> & Partial<Pick<Store, 'feedbackCounts'>>,
  options: { by: GrowthBy; since?: string | undefined; sections?: readonly string[] | undefined },
): Promise<StatsReport> {
  const only = options.sections?.length === 1 ? { section: options.sections[0]! } : {};
  const [sections, days, feedback, ...counts] = await Promise.all([
    store.sectionStats(options.sections),
    store.subscriberGrowth(options.since),
    store.feedbackCounts?.(only),
    ...subscriberStatus.options.map((status) => store.countSubscribers({ status })),
  ]);
  const totals = Object.fromEntries(subscriberStatus.options.map((status, i) => [status, counts[i]!] as const).filter(([, n]) => n > 0));
  const wanted = options.sections ? new Set(options.sections) : null;
  const inSections = <T extends { section: string }>(rows: T[]) => (wanted ? rows.filter((r) => wanted.has(r.section)) : rows);
  return {
    sections,
    growth: { by: options.by, periods: growthBy(days, options.by) },
    totals,
    ...(feedback ? { feedback: { papers: inSections(feedback.papers), topics: inSections(feedback.topics) } } : {}),
  };
}
