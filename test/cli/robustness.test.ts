import { appendFile, cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';
import { withProjectStore } from '../store/project-store.js';
import { TEST_SECRET, cli, configure, makeProject } from './cli-helpers.js';

/** A project with its own copy of the templates, the paper partial broken at its first line. */
async function projectWithBrokenTemplate(): Promise<string> {
  const dir = await makeProject();
  await cp(join(ROOT, 'templates'), join(dir, 'templates'), { recursive: true });
  const partial = join(dir, 'templates/partials/paper.mjml.hbs');
  await writeFile(partial, (await readFile(partial, 'utf8')).replace('<mj-text', '<mj-bogus'));
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  await configure(dir, { paths: { ...config.paths, templates: 'templates' } });
  return dir;
}

describe('finding 11: errors carry their detail, validate checks what run checks', () => {
  it('run prints a template error with its file and line in the summary, and exits 3', async () => {
    const dir = await projectWithBrokenTemplate();
    const run = await cli(dir, ['run']);
    expect(run.code, run.stderr).toBe(3);
    expect(run.stdout).toMatch(/2025-11-13 .*FAILED: the digest template produced invalid MJML/);
    expect(run.stdout).toMatch(/templates\/partials\/paper\.mjml\.hbs:1: Element mj-bogus doesn't exist/);
    expect(run.stdout).toMatch(/-> Check the MJML tags/);
  });

  it('validate reports a missing secret for a real transport, its settings and a digest file of random bytes, by name', async () => {
    const dir = await makeProject();
    // Bytes that are not UTF-8 (0xff never is), as a binary file dropped into digests/ would be.
    await writeFile(join(dir, 'digests/noise.md'), Buffer.from([0x23, 0x20, 0x0a, 0xff, 0xfe, 0x00, 0x81, 0x13, 0x37]));
    await writeFile(join(dir, 'digests/photo.jpg'), Buffer.from([0xff, 0xd8, 0xff]));
    await configure(dir, { transport: { type: 'smtp', host: '127.0.0.1', port: 2525, user: 'digest' } });
    const checked = await cli(dir, ['validate']);
    expect(checked.code).toBe(1);
    expect(checked.stderr).toMatch(/secret: the environment variable DIGEST_MAILER_SECRET .* is not set/);
    expect(checked.stderr).toMatch(/transport \(smtp\): transport\.passwordEnv: the environment variable SMTP_PASSWORD is not set/);
    expect(checked.stderr).toMatch(/digests\/noise\.md:2: not a text file \(bytes that are not UTF-8 at line 2\)/);
    expect(checked.stdout).toMatch(/Note: digests\/photo\.jpg is not a \.md file: ignored/);
    // The same config with what run needs passes: validate and run agree.
    const fixed = await cli(dir, ['validate'], { DIGEST_MAILER_SECRET: TEST_SECRET, SMTP_PASSWORD: 'pw' });
    expect(fixed.stderr).not.toMatch(/secret|transport/);
    expect(fixed.stderr).toMatch(/1 problem:/);
  });
});

describe('finding 11: db import of damaged journals of an earlier version', () => {
  async function legacyProject(): Promise<string> {
    const dir = await makeProject();
    await cp(join(ROOT, 'test/fixtures/legacy/subscribers.json'), join(dir, 'subscribers.json'));
    await cp(join(ROOT, 'test/fixtures/legacy/complete/state'), join(dir, 'state'), { recursive: true });
    return dir;
  }

  it('a line "null" stops the import with file and line, before anything is written', async () => {
    const dir = await legacyProject();
    const ledger = join(dir, 'state/ledger.jsonl');
    const lines = (await readFile(ledger, 'utf8')).split('\n').length; // the appended line's number
    await appendFile(ledger, 'null\n');
    const imported = await cli(dir, ['db', 'import']);
    expect(imported.code).toBe(1);
    expect(imported.stderr).toContain(`state/ledger.jsonl:${lines}: the ledger has a damaged line (null)`);
    expect(imported.stderr).not.toMatch(/unexpected error/);
    expect(await withProjectStore(dir, async (store) => [(await store.sections()).size, await store.countSubscribers()])).toEqual([0, 0]);
  });

  it('a torn last line in the journal of a section already sent is reported with file and line (exit 3)', async () => {
    const dir = await legacyProject();
    const journal = join(dir, 'state/deliveries/2025-11-13.jsonl');
    const lines = (await readFile(journal, 'utf8')).trimEnd().split('\n').length;
    await appendFile(journal, '{"t":"delivery","date":"2025-11-13","email":"new.reader@exa');
    const imported = await cli(dir, ['db', 'import']);
    expect(imported.code, imported.stderr).toBe(3);
    expect(imported.stderr).toContain(`deliveries/2025-11-13.jsonl:${lines + 1}: the last line is incomplete`);
    expect(imported.stdout).toMatch(/deliveries: {2}9 recorded/);
  });
});

describe('finding 11: usage errors exit 2, as documented', () => {
  for (const [what, args] of [
    ['render without --subscriber or --topics', ['render', '--section', '2025-11-13', '--out', 'out']],
    ['export --format xml', ['subscribers', 'export', '--format', 'xml']],
    ['serve --port that is not a number', ['serve', '--port', 'http']],
  ] as const) {
    it(what, async () => {
      const dir = await makeProject();
      const result = await cli(dir, [...args]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/--subscriber|--format|--port/);
    });
  }
});
