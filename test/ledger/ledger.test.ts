import { appendFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isFinal } from '../../src/ledger/events.js';
import { LEDGER_FILE, Ledger } from '../../src/ledger/ledger.js';

describe('ledger journal', () => {
  it('survives reopening with everything flushed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-ledger-'));
    const ledger = await Ledger.openForWriting(dir);
    await ledger.loadDeliveries('2025-11-13');
    ledger.record({ t: 'section', date: '2025-11-13', status: 'sending', hash: 'h', at: 'now', openedAt: 'now' });
    ledger.record({ t: 'delivery', date: '2025-11-13', email: 'a@example.org', status: 'sent', at: 'now', messageId: '<m>' });
    ledger.record({ t: 'subscriber', email: 'a@example.org', firstSeen: '2025-01-01T00:00:00.000Z' });
    await ledger.close();
    const again = await Ledger.read(dir);
    expect(again.section('2025-11-13')?.status).toBe('sending');
    expect(again.firstSeen('a@example.org')).toBe('2025-01-01T00:00:00.000Z');
    // Deliveries live in one journal per section and are loaded on demand.
    expect(() => again.delivery('2025-11-13', 'a@example.org')).toThrow(/not loaded/);
    await again.loadDeliveries('2025-11-13');
    expect(again.delivery('2025-11-13', 'a@example.org')).toMatchObject({ status: 'sent', messageId: '<m>' });
    expect(await readFile(join(dir, 'deliveries/2025-11-13.jsonl'), 'utf8')).toMatch(/"email":"a@example.org"/);
    expect(await readFile(join(dir, LEDGER_FILE), 'utf8')).not.toMatch(/"t":"delivery"/);
  });

  it('ignores and cuts a torn last line left by a crash mid-append', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-ledger-'));
    const file = join(dir, LEDGER_FILE);
    await writeFile(file, '{"t":"section","date":"2025-11-13","status":"sent","hash":"h","at":"x"}\n{"t":"delivery","da');
    expect((await Ledger.read(dir)).section('2025-11-13')?.status).toBe('sent');
    const ledger = await Ledger.openForWriting(dir);
    ledger.record({ t: 'section', date: '2025-11-14', status: 'sent', hash: 'h', at: 'y' });
    await ledger.close();
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('cuts a torn tail in a section\'s delivery journal too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-ledger-'));
    const ledger = await Ledger.openForWriting(dir);
    await ledger.loadDeliveries('2025-11-13');
    ledger.record({ t: 'delivery', date: '2025-11-13', email: 'a@example.org', status: 'sent', at: 'x' });
    await ledger.close();
    await appendFile(join(dir, 'deliveries/2025-11-13.jsonl'), '{"t":"delivery","date":"2025-11-13","em');
    const again = await Ledger.openForWriting(dir);
    await again.loadDeliveries('2025-11-13');
    expect(again.delivery('2025-11-13', 'a@example.org')?.status).toBe('sent');
    again.record({ t: 'delivery', date: '2025-11-13', email: 'b@example.org', status: 'sent', at: 'y' });
    await again.close();
    const lines = (await readFile(join(dir, 'deliveries/2025-11-13.jsonl'), 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).email)).toEqual(['a@example.org', 'b@example.org']);
  });

  it('refuses a damaged line in the middle, naming file and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-ledger-'));
    await appendFile(join(dir, LEDGER_FILE), '{"t":"subscriber","email":"a","firstSeen":"x"}\nnot json\n{"t":"subscriber","email":"b","firstSeen":"x"}\n');
    await expect(Ledger.read(dir)).rejects.toThrow(/ledger\.jsonl:2: the ledger has a damaged line/);
  });

  it('treats sent, skipped and permanent failures as final, transient failures as retryable', () => {
    expect(isFinal({ status: 'sent', at: '' })).toBe(true);
    expect(isFinal({ status: 'skipped-no-match', at: '' })).toBe(true);
    expect(isFinal({ status: 'failed', at: '', permanent: true })).toBe(true);
    expect(isFinal({ status: 'failed', at: '', permanent: false })).toBe(false);
    expect(isFinal(undefined)).toBe(false);
  });
});
