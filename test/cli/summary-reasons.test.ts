import { describe, expect, it } from 'vitest';
import { formatRunSummary, topReasons } from '../../src/cli/format.js';
import type { DeliveryCounts } from '../../src/run/deliver.js';
import { reasonGroup } from '../../src/run/reasons.js';
import type { RunSummary, SectionOutcome } from '../../src/run/run.js';

function section(date: string, reasons: DeliveryCounts['reasons']): SectionOutcome {
  const failed = reasons.reduce((n, r) => n + r.count, 0);
  return {
    date, source: 'd.md:1', papers: 3, before: 'pending', action: 'send', after: 'sent', variants: 1, renders: 1, largestHtmlBytes: 1000, changedAfterSend: false,
    counts: { sent: 10, skippedNoMatch: 0, failed, alreadyDone: 0, notEligible: 0, pending: 0, wouldSend: 0, notDueYet: 0, paused: 0, deferred: 0, reasons },
  };
}

describe('failure reasons in the run summary', () => {
  it('groups replies that differ only by address or queue id', () => {
    expect(reasonGroup('550 5.1.1 <priya@example.org>: Recipient address rejected: User unknown')).toBe(
      reasonGroup('550 5.1.1 <sofia@example.com>: Recipient address rejected: User unknown'),
    );
    expect(reasonGroup('452 4.2.2 mailbox of ana@example.org is full')).toBe('452 4.2.2 mailbox of address is full');
    expect(reasonGroup('550 5.1.1 <a@b.org>: unknown')).not.toBe(reasonGroup('552 5.2.2 <a@b.org>: over quota'));
  });

  it('lists the top reasons with counts over all sections, most frequent first', () => {
    const summary: RunSummary = {
      dryRun: false, today: '2025-11-14', problems: [], stoppedEarly: null, sessionFailure: null,
      sections: [
        section('2025-11-13', [{ reason: '550 5.1.1 <address>: User unknown', count: 3 }, { reason: '552 over quota', count: 1 }]),
        section('2025-11-14', [{ reason: '550 5.1.1 <address>: User unknown', count: 2 }]),
      ],
    };
    expect(topReasons(summary)).toEqual([
      { reason: '550 5.1.1 <address>: User unknown', count: 5 },
      { reason: '552 over quota', count: 1 },
    ]);
    const text = formatRunSummary(summary);
    expect(text).toMatch(/Failures by reason:\n\s+5 {2}550 5\.1\.1 <address>: User unknown\n\s+1 {2}552 over quota/);
  });
});
