import { chmod, mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderCommand } from '../../src/cli/commands/render.js';
import { subscribersExport } from '../../src/cli/commands/subscribers.js';
import { OutboxTransport } from '../../src/mail/transports/outbox.js';
import { acquireRunLock } from '../../src/run/lock.js';
import { openSqlite } from '../../src/store/open.js';
import { makeProject } from '../cli/cli-helpers.js';

/** Finding 5: every file holding personal data is 0600 (folders 0700), whatever the umask. */
const modeOf = async (path: string) => ((await stat(path)).mode & 0o777).toString(8);

describe('personal data files are private', () => {
  let umask: number;
  beforeAll(() => {
    // The usual umask: without an explicit mode, files would come out 0644.
    umask = process.umask(0o022);
  });
  afterAll(() => {
    process.umask(umask);
  });

  it('outbox .eml and .html files 0600 in a 0700 folder, also when replacing an older 0644 file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-modes-'));
    const outbox = new OutboxTransport(join(dir, 'outbox'), { htmlCopy: true });
    const message = { sectionDate: '2025-11-13', recipient: 'ana@example.org', messageId: '<x@y>', raw: Buffer.from('Subject: x\r\n\r\nhi\r\n'), html: '<p>hi</p>', envelope: { from: 'list@example.org', to: 'ana@example.org' } };
    await outbox.send(message);
    await chmod(join(dir, 'outbox/2025-11-13/ana_at_example.org.eml'), 0o644);
    await outbox.send(message);
    expect(await modeOf(join(dir, 'outbox/2025-11-13'))).toBe('700');
    for (const name of await readdir(join(dir, 'outbox/2025-11-13'))) expect(await modeOf(join(dir, 'outbox/2025-11-13', name)), name).toBe('600');
  });

  it('render output, export --out and the run lock owner file 0600', async () => {
    const dir = await makeProject();
    const globals = { config: join(dir, 'config.json'), verbose: false };
    await renderCommand(globals, { section: '2025-11-13', subscriber: 'ana.lopez@example.org', out: join(dir, 'rendered') });
    const rendered = await readdir(join(dir, 'rendered'));
    expect(rendered.length).toBe(3);
    for (const name of rendered) expect(await modeOf(join(dir, 'rendered', name)), name).toBe('600');

    // An existing export file made by a shell redirection (0644) is tightened before writing.
    await writeFile(join(dir, 'export.csv'), 'old');
    await chmod(join(dir, 'export.csv'), 0o644);
    await subscribersExport(globals, { format: 'csv', out: join(dir, 'export.csv') });
    expect(await modeOf(join(dir, 'export.csv'))).toBe('600');
    await subscribersExport(globals, { format: 'json', out: join(dir, 'export.json') });
    expect(await modeOf(join(dir, 'export.json'))).toBe('600');

    const lock = await acquireRunLock(join(dir, 'state2'), 'test');
    try {
      expect(await modeOf(join(dir, 'state2'))).toBe('700');
      expect(await modeOf(join(dir, 'state2/run.lock.owner.json'))).toBe('600');
    } finally {
      await lock.release();
    }
  });

  it('tightens a database and WAL files left 0644 by an earlier version', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-modes-db-'));
    const file = join(dir, 'state/digest-mailer.db');
    const first = await openSqlite(file);
    await first.close();
    for (const suffix of ['', '-wal', '-shm']) await writeFile(`${file}${suffix}`, '', { flag: 'a' });
    for (const suffix of ['', '-wal', '-shm']) await chmod(`${file}${suffix}`, 0o644);
    const store = await openSqlite(file);
    try {
      await store.getSubscriber('a@example.org');
      for (const suffix of ['', '-wal', '-shm']) expect(await modeOf(`${file}${suffix}`), suffix || 'db').toBe('600');
    } finally {
      await store.close();
    }
  });
});
