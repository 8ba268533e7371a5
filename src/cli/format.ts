import { sortedReasons } from '../run/reasons.js';
import type { RunSummary, SectionOutcome } from '../run/run.js';

function kb(bytes: number): string {
  return `${(bytes / 1000).toFixed(1)} KB`;
}

function countsLine(o: SectionOutcome, dryRun: boolean): string {
  if (o.error) return `FAILED: ${o.error.split('\n')[0]}`;
  if (!o.counts) return '';
  const c = o.counts;
  const parts = dryRun ? [`would send ${c.wouldSend}`] : [`sent ${c.sent}`];
  parts.push(`no match ${c.skippedNoMatch}`);
  if (!dryRun) parts.push(`failed ${c.failed}`);
  if (c.alreadyDone) parts.push(`done before ${c.alreadyDone}`);
  if (c.notEligible) parts.push(`joined later ${c.notEligible}`);
  if (c.notDueYet) parts.push(`at their hour later ${c.notDueYet}`);
  if (c.paused) parts.push(`paused ${c.paused}`);
  if (c.deferred) parts.push(`in weekly roll-ups ${c.deferred}`);
  if (c.pending) parts.push(`pending ${c.pending}`);
  const extra = o.variants ? ` (${o.variants} variant${o.variants === 1 ? '' : 's'}, largest HTML ${kb(o.largestHtmlBytes)})` : '';
  // Several workers: this one only sent, beside the worker that planned the section.
  const role = o.role === 'sender' ? ' [sender beside another worker]' : '';
  return parts.join(', ') + extra + role;
}

/** The lines after an error's first (file:line of each template problem) and its hint, indented under the section. */
function errorDetail(error: string, hint: string | undefined, limit = 12): string[] {
  const detail = error.split('\n').slice(1).map((l) => l.trim()).filter(Boolean);
  const shown = detail.slice(0, limit).map((l) => `                ${l}`);
  if (detail.length > limit) shown.push(`                ... and ${detail.length - limit} more (digest-mailer validate lists them all)`);
  if (hint) shown.push(`                -> ${hint}`);
  return shown;
}

/** Failure reasons over all sections of the pass, most frequent first. */
export function topReasons(summary: RunSummary): { reason: string; count: number }[] {
  const all = new Map<string, number>();
  for (const o of summary.sections) for (const r of o.counts?.reasons ?? []) all.set(r.reason, (all.get(r.reason) ?? 0) + r.count);
  return sortedReasons(all);
}

export function formatRunSummary(summary: RunSummary): string {
  const lines: string[] = [];
  for (const o of summary.sections) {
    const state = o.before === o.after ? o.after : `${o.before} -> ${o.after}`;
    const note = o.changedAfterSend ? '  (text changed after it was sent; not resent)' : '';
    const papers = o.rollUp ? 'roll-up  ' : `${String(o.papers).padStart(2)} ${o.papers === 1 ? 'paper ' : 'papers'}`;
    lines.push(`  ${o.date}  ${state.padEnd(24)} ${papers}  ${countsLine(o, summary.dryRun)}${note}`);
    if (o.error) lines.push(...errorDetail(o.error, o.errorHint));
  }
  const total = { sent: 0, wouldSend: 0, skipped: 0, failed: 0, pending: 0 };
  for (const o of summary.sections) {
    total.sent += o.counts?.sent ?? 0;
    total.wouldSend += o.counts?.wouldSend ?? 0;
    total.skipped += o.counts?.skippedNoMatch ?? 0;
    total.failed += o.counts?.failed ?? 0;
    total.pending += o.counts?.pending ?? 0;
  }
  lines.push('');
  lines.push(
    summary.dryRun
      ? `Dry run: ${total.wouldSend} emails would be sent, ${total.skipped} subscribers have no matching papers. Nothing was sent or recorded.`
      : `Emails: ${total.sent} sent, ${total.skipped} skipped (no matching papers), ${total.failed} failed.`,
  );
  const reasons = topReasons(summary);
  if (reasons.length > 0) {
    lines.push('Failures by reason:');
    for (const r of reasons.slice(0, 5)) lines.push(`  ${String(r.count).padStart(5)}  ${r.reason}`);
    if (reasons.length > 5) lines.push(`  ... and ${reasons.length - 5} more (digest-mailer deliveries --status failed)`);
  }
  if (summary.stoppedEarly === 'session' && summary.sessionFailure) {
    const f = summary.sessionFailure;
    lines.push(`Stopped: the mail server refused the session at the ${f.stage} stage; no recipient was marked failed.`);
    lines.push(`  Server said: ${f.reason}`);
    if (f.hint) lines.push(`  Check: ${f.hint}`);
    lines.push(`  ${total.pending} messages (and any later sections) are pending; run again once this is fixed.`);
  } else if (summary.stoppedEarly) {
    const why = summary.stoppedEarly === 'quota' ? 'the daily sending quota was reached' : 'the run was interrupted';
    lines.push(`Stopped early: ${why}. ${total.pending} messages (and any later sections) are pending; the next run sends them.`);
  }
  return lines.join('\n');
}
