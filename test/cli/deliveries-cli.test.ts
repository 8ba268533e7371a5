import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { openStore } from '../../src/store/open.js';
import { cli, makeProject } from './cli-helpers.js';

const DATE = '2025-11-13';
const at = '2025-11-13T07:00:00.000Z';
const mid = (email: string) => `<digest-${DATE}.${email.split('@')[0]}@mllm-digest.example.org>`;

/** A project whose store holds one sent section with a mix of outcomes. */
async function projectWithOutcomes() {
  const dir = await makeProject();
  const config = await loadConfig(join(dir, 'config.json'));
  const store = await openStore(config);
  await store.putSection(DATE, { status: 'sent', hash: 'h', at, openedAt: at });
  const row = (email: string, status: 'sent' | 'failed', reason?: string, permanent = false) => ({
    issue: DATE, sections: [DATE], emailKey: email, subscriberId: null, status, permanent, messageId: mid(email), reason: reason ?? null, at,
  });
  await store.insertDeliveries([
    row('ana.lopez@example.org', 'sent'),
    row('jonas.weber@example.com', 'sent'),
    row('priya.raman@example.org', 'failed', '550 5.1.1 <priya.raman@example.org>: Recipient address rejected: User unknown', true),
    row('sofia.rossi@example.org', 'failed', '550 5.1.1 <sofia.rossi@example.org>: Recipient address rejected: User unknown', true),
    row('reader@example.com', 'failed', '452 4.2.2 Mailbox full', false),
  ]);
  await store.close();
  return { dir, config };
}

describe('digest-mailer deliveries and retry', () => {
  it('lists outcomes with reasons, filtered by section, status and reason text', async () => {
    const { dir } = await projectWithOutcomes();
    const failed = await cli(dir, ['deliveries', '--section', DATE, '--status', 'failed']);
    expect(failed.code).toBe(0);
    const lines = failed.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(failed.stdout).toMatch(/failed \(permanent\)\s+priya\.raman@example\.org\s+550 5\.1\.1/);
    expect(failed.stdout).toMatch(/failed \(temporary\)\s+reader@example\.com\s+452 4\.2\.2 Mailbox full/);
    expect(failed.stderr).toMatch(/3 deliveries/);

    const by550 = await cli(dir, ['deliveries', '--reason', '550', '--json']);
    const rows = by550.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.email).sort()).toEqual(['priya.raman@example.org', 'sofia.rossi@example.org']);

    const all = await cli(dir, ['deliveries']);
    expect(all.stdout.trim().split('\n')).toHaveLength(5);

    const typo = await cli(dir, ['deliveries', '--status', 'faild']);
    expect(typo.code).toBe(2); // a wrong option value is a usage error
    expect(typo.stderr).toMatch(/--status: "faild" is not one of queued, claimed, sent, skipped-no-match, cancelled, failed, deferred/);
  });

  it('retry re-queues the chosen failures with their Message-ID and reopens the section; the rest stay as they were', async () => {
    const { dir, config } = await projectWithOutcomes();
    const bare = await cli(dir, ['retry', '--section', DATE]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/choose what to re-queue with --failed/);

    const by550 = await cli(dir, ['retry', '--section', DATE, '--reason', 'User unknown']);
    expect(by550.code).toBe(0);
    expect(by550.stdout).toMatch(/Re-queued 2 failed deliveries of 2025-11-13 whose reason contains "User unknown"; the section is sending again/);

    let store = await openStore(config);
    const queued = await store.listDeliveries({ section: DATE, status: 'queued' });
    expect(queued.map((d) => [d.emailKey, d.messageId])).toEqual([
      ['priya.raman@example.org', mid('priya.raman@example.org')],
      ['sofia.rossi@example.org', mid('sofia.rossi@example.org')],
    ]);
    expect((await store.listDeliveries({ section: DATE, status: 'failed' })).map((d) => d.emailKey)).toEqual(['reader@example.com']);
    expect((await store.listDeliveries({ section: DATE, status: 'sent' })).length).toBe(2);
    expect((await store.section(DATE))?.status).toBe('sending');
    await store.close();

    const rest = await cli(dir, ['retry', '--section', DATE, '--failed']);
    expect(rest.stdout).toMatch(/Re-queued 1 failed delivery/);
    const none = await cli(dir, ['retry', '--section', DATE, '--failed']);
    expect(none.stdout).toMatch(/Nothing to re-queue/);
    const unknown = await cli(dir, ['retry', '--section', '2025-10-01', '--failed']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no section 2025-10-01 has been sent/);

    store = await openStore(config);
    expect((await store.listDeliveries({ section: DATE, status: 'failed' })).length).toBe(0);
    await store.close();
  });
});
