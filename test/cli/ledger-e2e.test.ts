import { appendFile, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXTRA_SECTION, RECIPIENTS_2025_11_13, cli, makeProject } from './cli-helpers.js';
import { outboxFileStem } from '../../src/mail/transports/outbox.js';
import { withProjectStore } from '../store/project-store.js';

async function outboxFiles(dir: string): Promise<Record<string, string[]>> {
  const root = join(dir, 'outbox');
  const dates = await readdir(root).catch(() => [] as string[]);
  const out: Record<string, string[]> = {};
  for (const date of dates.sort()) out[date] = (await readdir(join(root, date))).filter((f) => f.endsWith('.eml')).sort();
  return out;
}

async function statuses(dir: string): Promise<Record<string, string>> {
  const result = await cli(dir, ['sections', '--json']);
  const parsed = JSON.parse(result.stdout) as { sections: { date: string; status: string }[] };
  return Object.fromEntries(parsed.sections.map((s) => [s.date, s.status]));
}

const EXPECTED_13 = RECIPIENTS_2025_11_13.map((email) => `${outboxFileStem(email)}.eml`);

describe('ledger semantics through the CLI', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeProject();
  });

  it('first run sends only the newest section, to every matching active subscriber', async () => {
    const run = await cli(dir, ['run']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/2025-11-13\s+pending -> sent/);
    expect(run.stdout).toMatch(/Emails: 6 sent, 3 skipped \(no matching papers\), 0 failed\./);
    expect(run.stderr).toMatch(/PUBLIC DEVELOPMENT secret/);
    expect(await outboxFiles(dir)).toEqual({ '2025-11-13': EXPECTED_13 });
    // Only .eml files by default: the summary does not point at .html copies that are not there.
    expect(run.stdout).toMatch(/\(\.eml files open in any mail client; set transport\.htmlCopy for a \.html copy/);
    const st = await statuses(dir);
    expect(st['2025-11-12']).toBe('before-start');
    expect(st['2025-11-03']).toBe('before-start');
    expect(st['2025-11-13']).toBe('sent');
  });

  it('a second run right after sends nothing and rewrites nothing', async () => {
    const before = (await stat(join(dir, 'outbox/2025-11-13', EXPECTED_13[0]!))).mtimeMs;
    const run = await cli(dir, ['run']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Emails: 0 sent, 0 skipped/);
    expect((await stat(join(dir, 'outbox/2025-11-13', EXPECTED_13[0]!))).mtimeMs).toBe(before);
    expect(await outboxFiles(dir)).toEqual({ '2025-11-13': EXPECTED_13 });
  });

  it('a section appended to the digest is sent by the next run, and only it', async () => {
    await appendFile(join(dir, 'digests/2025-11.md'), EXTRA_SECTION('2025-11-14', '2025-11-13'));
    const run = await cli(dir, ['run']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/2025-11-14\s+pending -> sent/);
    const files = await outboxFiles(dir);
    expect(Object.keys(files)).toEqual(['2025-11-13', '2025-11-14']);
    expect(files['2025-11-13']).toEqual(EXPECTED_13);
    // multilingual / video / benchmarks, and a keyword-free all-topics reader
    expect(files['2025-11-14']).toContain('kwame.mensah_at_example.com.eml');
    expect(files['2025-11-14']).toContain('fatima.zahra_at_example.org.eml');
    expect(files['2025-11-14']).not.toContain('jonas.weber_at_example.com.eml'); // excludes benchmarks
    expect(files['2025-11-14']).not.toContain('tom.becker_at_example.org.eml'); // unsubscribed
  });

  it('a subscriber added later gets only sections sent after they were added', async () => {
    // The store is the list now: the file was imported on the first start and is not read again.
    expect((await cli(dir, ['subscribers', 'add', 'newcomer@example.org', '--name', 'New Comer'])).code).toBe(0);
    const quiet = await cli(dir, ['run']);
    expect(quiet.stdout).toMatch(/Emails: 0 sent/);
    await appendFile(join(dir, 'digests/2025-11.md'), EXTRA_SECTION('2025-11-17', '2025-11-14'));
    const run = await cli(dir, ['run']);
    expect(run.code).toBe(0);
    const files = await outboxFiles(dir);
    expect(files['2025-11-17']).toContain('newcomer_at_example.org.eml');
    expect(files['2025-11-13']).not.toContain('newcomer_at_example.org.eml');
    expect(files['2025-11-14']).not.toContain('newcomer_at_example.org.eml');
  });

  it('a section edited after it was sent is reported, not resent', async () => {
    const file = join(dir, 'digests/2025-11.md');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace('Taming Object Hallucinations', 'Taming Object Hallucinations (v2)'));
    const before = await outboxFiles(dir);
    const run = await cli(dir, ['run']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/2025-11-13\s+sent .*text changed after it was sent; not resent/);
    expect(await outboxFiles(dir)).toEqual(before);
    const sections = await cli(dir, ['sections']);
    expect(sections.stdout).toMatch(/2025-11-13\s+sent .*TEXT CHANGED/);
    // Even asked for by date, it is not resent, and the edit stays on record.
    const forced = await cli(dir, ['run', '--section', '2025-11-13']);
    expect(forced.stdout).toMatch(/Emails: 0 sent/);
    expect(await outboxFiles(dir)).toEqual(before);
    expect((await cli(dir, ['sections'])).stdout).toMatch(/2025-11-13\s+sent .*TEXT CHANGED/);
  });

  it('--backfill on an empty ledger sends every past section', async () => {
    const fresh = await makeProject();
    const dry = await cli(fresh, ['run', '--dry-run', '--backfill']);
    expect(dry.stdout).toMatch(/Dry run: \d+ emails would be sent/);
    expect(await outboxFiles(fresh)).toEqual({});
    const run = await cli(fresh, ['run', '--backfill']);
    expect(run.code).toBe(0);
    expect(Object.keys(await outboxFiles(fresh))).toEqual([
      '2025-11-03', '2025-11-04', '2025-11-05', '2025-11-06', '2025-11-07', '2025-11-10', '2025-11-12', '2025-11-13',
    ]);
    const mail = await simpleParser(await readFile(join(fresh, 'outbox/2025-11-12/ana.lopez_at_example.org.eml')));
    // The subject leads with the count (the reader's email: at most 70 characters).
    expect(mail.subject).toMatch(/^18 new papers\b/);
    expect(mail.subject!.length).toBeLessThanOrEqual(70);
    expect(Buffer.byteLength(mail.html || '')).toBeLessThan(102_000);
  });

  it('--section sends one before-start section on request', async () => {
    const fresh = await makeProject();
    await cli(fresh, ['run']);
    const run = await cli(fresh, ['run', '--section', '2025-11-12']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/2025-11-12\s+before-start -> sent/);
    expect(Object.keys(await outboxFiles(fresh))).toEqual(['2025-11-12', '2025-11-13']);
    const missing = await cli(fresh, ['run', '--section', '2024-01-01']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no section dated 2024-01-01/);
  });
});

describe('CLI input problems and errors', () => {
  it('a malformed section is reported with file:line and skipped; the others still go out', async () => {
    const dir = await makeProject();
    await appendFile(
      join(dir, 'digests/2025-11.md'),
      `${EXTRA_SECTION('2025-11-14', '2025-11-13')}\n## 2025-11-15\n\n### Broken\n\n**Link:** javascript:alert(1)\n`,
    );
    const run = await cli(dir, ['run']);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/digests\/2025-11\.md:\d+: section 2025-11-15 \(line \d+\) skipped: the link of "Broken"/);
    expect(run.stdout).toMatch(/2025-11-14\s+pending -> sent/);
  });

  it('validate lists every problem and exits non-zero', async () => {
    const dir = await makeProject();
    const subs = JSON.parse(await readFile(join(dir, 'subscribers.json'), 'utf8'));
    subs.subscribers.push({ email: 'x@example.org', topics: ['astrology'] }, { email: 'bad' });
    await writeFile(join(dir, 'subscribers.json'), JSON.stringify(subs));
    await writeFile(join(dir, 'digests/extra.md'), '## 2025-11-13\n\n### Duplicate date\n');
    const result = await cli(dir, ['validate']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/3 problems/);
    expect(result.stderr).toMatch(/entry #11 \(x@example\.org\): unknown topic id "astrology"/);
    expect(result.stderr).toMatch(/entry #12 \(bad\): email: /);
    expect(result.stderr).toMatch(/digests\/2025-11\.md:713 and digests\/extra\.md:1: section 2025-11-13 appears 2 times/);
    const ok = await cli(await makeProject(), ['validate']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^OK: /);
  });

  it('prints a config error as one message naming the key, with a stack only under --verbose', async () => {
    const dir = await makeProject();
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    config.list.from.address = 'not-an-address';
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    const quiet = await cli(dir, ['run']);
    expect(quiet.code).toBe(1);
    expect(quiet.stderr).toMatch(/list\.from\.address: /);
    expect(quiet.stderr).not.toMatch(/\n\s+at /);
    const verbose = await cli(dir, ['--verbose', 'run']);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/\n\s+at /);
  });

  it('render writes .html, .txt and .eml for a subscriber or an ad-hoc topic set', async () => {
    const dir = await makeProject();
    const bySubscriber = await cli(dir, ['render', '--section', '2025-11-12', '--subscriber', 'kwame.mensah@example.com', '--out', 'preview']);
    expect(bySubscriber.code).toBe(0);
    const byTopics = await cli(dir, ['render', '--section', '2025-11-12', '--topics', 'rl', '--out', 'preview']);
    expect(byTopics.code).toBe(0);
    const files = (await readdir(join(dir, 'preview'))).sort();
    expect(files).toEqual([
      '2025-11-12-kwame.mensah_at_example.com.eml',
      '2025-11-12-kwame.mensah_at_example.com.html',
      '2025-11-12-kwame.mensah_at_example.com.txt',
      '2025-11-12-preview_at_example.org.eml',
      '2025-11-12-preview_at_example.org.html',
      '2025-11-12-preview_at_example.org.txt',
    ]);
    const text = await readFile(join(dir, 'preview/2025-11-12-preview_at_example.org.txt'), 'utf8');
    expect(text).toMatch(/your topic RL & post-training/);
    const bad = await cli(dir, ['render', '--section', '2025-11-12', '--topics', 'cooking', '--out', 'preview']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown topic cooking/);
    // Rendering never records a section or a delivery.
    expect((await withProjectStore(dir, (store) => store.sections())).size).toBe(0);
    expect(await withProjectStore(dir, (store) => store.listDeliveries({}))).toEqual([]);
  });
});
