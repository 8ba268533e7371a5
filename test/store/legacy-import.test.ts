import { cp, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { outboxFileStem } from '../../src/mail/transports/outbox.js';
import { ROOT } from '../helpers.js';
import { cli, makeProject } from '../cli/cli-helpers.js';
import { storedDeliveries, storedSubscribers, withProjectStore } from './project-store.js';

const FIXTURES = join(ROOT, 'test/fixtures/legacy');
/** Recipients of 2025-11-13 whose "sent" line the interrupted journal lacks. */
const UNRECORDED = ['sofia.rossi@example.org', 'jonas.weber@example.com', 'fatima.zahra@example.org'];

async function outbox(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'outbox/2025-11-13')).catch(() => [] as string[])).filter((f) => f.endsWith('.eml')).sort();
}

/** A project holding an earlier version's subscribers file and state folder. */
async function legacyProject(state: 'complete' | 'interrupted'): Promise<string> {
  const dir = await makeProject();
  await cp(join(FIXTURES, 'subscribers.json'), join(dir, 'subscribers.json'));
  await cp(join(FIXTURES, state, 'state'), join(dir, 'state'), { recursive: true });
  return dir;
}

describe('db import from the JSON files of the previous version', () => {
  it('brings a finished state over: the next run sends nothing again', async () => {
    const dir = await legacyProject('complete');
    const imported = await cli(dir, ['db', 'import']);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/subscribers: 11 added/);
    expect(imported.stdout).toMatch(/sections: {4}8 added/);
    expect(imported.stdout).toMatch(/deliveries: {2}9 recorded/);

    const run = await cli(dir, ['run']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Emails: 0 sent/);
    expect(await outbox(dir)).toEqual([]);
    const sections = JSON.parse((await cli(dir, ['sections', '--json'])).stdout).sections as { date: string; status: string }[];
    expect(Object.fromEntries(sections.map((s) => [s.date, s.status]))).toMatchObject({ '2025-11-13': 'sent', '2025-11-12': 'before-start' });

    // The subscribers came in once, with their consent history as rows; the database is private.
    const { subscribers } = await storedSubscribers(dir);
    expect(subscribers).toHaveLength(11);
    expect(subscribers.find((s) => s.email === 'ana.lopez@example.org')!.history.map((h: { event: string }) => h.event)).toContain('imported');
    expect((await stat(join(dir, 'state/digest-mailer.db'))).mode & 0o777).toBe(0o600);
    // Importing again changes nothing.
    const again = await cli(dir, ['db', 'import']);
    expect(again.stdout).toMatch(/subscribers: 0 added, 11 already there/);
    expect(again.stdout).toMatch(/deliveries: {2}0 recorded/);
  });

  it('refuses to start on a new database beside an unimported ledger (an upgrade in place without db import)', async () => {
    const dir = await legacyProject('complete');
    // Without the guard this first start imported the subscribers file alone and sent 2025-11-13 to everyone again.
    const run = await cli(dir, ['run']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/state\/ledger\.jsonl is the ledger of an earlier version/);
    expect(run.stderr).toMatch(/digest-mailer db import/);
    expect(await outbox(dir)).toEqual([]);
    expect((await cli(dir, ['sections'])).code).toBe(1);

    expect((await cli(dir, ['db', 'import'])).code).toBe(0);
    const after = await cli(dir, ['run']);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toMatch(/Emails: 0 sent/);
    expect(await outbox(dir)).toEqual([]);
  });

  it('finishes an interrupted send: only the recipients without a record are sent, with their Message-IDs', async () => {
    const dir = await legacyProject('interrupted');
    const imported = await cli(dir, ['db', 'import']);
    expect(imported.code, imported.stderr).toBe(0);
    // The torn last line is what the crash left: said, and that recipient is among those sent now.
    expect(imported.stdout).toMatch(/deliveries\/2025-11-13\.jsonl:7: incomplete last line .*the next run sends to the recipient/);
    const before = await storedDeliveries(dir, '2025-11-13');
    expect(before.filter((d) => d.status === 'sent')).toHaveLength(3);
    expect(await withProjectStore(dir, async (store) => (await store.section('2025-11-13'))?.status)).toBe('sending');

    const run = await cli(dir, ['run']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Emails: 3 sent/);
    expect(await outbox(dir)).toEqual(UNRECORDED.map((e) => `${outboxFileStem(e)}.eml`).sort());
    const after = await storedDeliveries(dir, '2025-11-13');
    expect(after.filter((d) => d.status === 'sent')).toHaveLength(6);
    expect(await withProjectStore(dir, async (store) => (await store.section('2025-11-13'))?.status)).toBe('sent');
  });
});
