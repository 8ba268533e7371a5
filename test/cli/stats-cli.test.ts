import { describe, expect, it } from 'vitest';
import { withProjectStore } from '../store/project-store.js';
import { cli, makeProject } from './cli-helpers.js';

const DATE = '2025-11-13';

describe('digest-mailer stats', () => {
  it('prints per section what a real run sent and what SES reported after it, and the growth of the list', async () => {
    const dir = await makeProject();
    const run = await cli(dir, ['run', '--section', DATE]);
    expect(run.code, run.stderr).toBe(0);
    const sent = await withProjectStore(dir, (store) => store.countDeliveries(DATE));
    expect(sent.sent).toBeGreaterThan(0);

    // SES reports after the send, as the webhook records them.
    const later = new Date(Date.now() + 60_000).toISOString();
    await withProjectStore(dir, async (store) => {
      await store.appendConsentEvents('ana.lopez@example.org', [{ event: 'complained', at: later, by: 'ses-webhook', detail: 'SES complaint (abuse)' }]);
      await store.appendConsentEvents('jonas.weber@example.com', [{ event: 'suppressed', at: later, by: 'ses-webhook', detail: 'SES Permanent/General bounce' }]);
    });

    const json = await cli(dir, ['stats', '--json', '--section', DATE]);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report.sections).toEqual([
      expect.objectContaining({ date: DATE, sent: sent.sent, failed: 0, skipped: sent['skipped-no-match'], bounces: { permanent: 1, transient: 0 }, complaints: 1 }),
    ]);
    // The import of the subscribers file on first start, today.
    expect(report.growth.by).toBe('day');
    expect(report.growth.periods.reduce((n: number, p: { imported: number }) => n + p.imported, 0)).toBeGreaterThan(0);
    expect(report.totals.active).toBeGreaterThan(0);

    const text = await cli(dir, ['stats', '--by', 'week']);
    expect(text.code, text.stderr).toBe(0);
    const row = text.stdout.split('\n').find((l) => l.startsWith(DATE))!;
    expect(row.split(/\s+/)).toEqual([DATE, String(sent.sent), '0', '0', String(sent['skipped-no-match']), '0', '0', '1', '0', '1', `${((1 / sent.sent) * 100).toFixed(2)}%`, `${((1 / sent.sent) * 100).toFixed(2)}%`]);
    expect(text.stdout).toMatch(/Subscriber growth per week/);
    expect(text.stdout).toMatch(/^week of\s+new\s+imported\s+confirmed\s+unsubscribed$/m);
  });

  it('refuses bad options with exit 2, naming the option', async () => {
    const dir = await makeProject();
    const by = await cli(dir, ['stats', '--by', 'month']);
    expect(by.code).toBe(2);
    expect(by.stderr).toMatch(/--by: "month" is not day or week/);
    const since = await cli(dir, ['stats', '--since', '13/11/2025']);
    expect(since.code).toBe(2);
    expect(since.stderr).toMatch(/--since: "13\/11\/2025" is not a date/);
  });
});
