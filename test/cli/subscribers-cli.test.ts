import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, makeProject } from './cli-helpers.js';
import { storedSubscribers } from '../store/project-store.js';

describe('digest-mailer subscribers', () => {
  it('lists, adds, removes, imports and exports', async () => {
    const dir = await makeProject();
    const list = await cli(dir, ['subscribers', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/11 subscribers: 9 active, 1 unsubscribed, 1 bounced/);

    const add = await cli(dir, ['subscribers', 'add', 'new@example.org', '--name', 'New Person', '--topics', 'video,rl']);
    expect(add.code).toBe(0);
    const twice = await cli(dir, ['subscribers', 'add', 'NEW@example.org']);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/already on the list \(status active\)/);
    const badTopic = await cli(dir, ['subscribers', 'add', 'x@example.org', '--topics', 'cooking']);
    expect(badTopic.stderr).toMatch(/unknown topic cooking/);
    const json = JSON.parse((await cli(dir, ['subscribers', 'list', '--json'])).stdout);
    expect(json.subscribers.find((s: { email: string }) => s.email === 'new@example.org')).toMatchObject({
      name: 'New Person', status: 'active', topics: ['video', 'rl'], history: [{ event: 'added', by: 'cli' }],
    });

    await writeFile(
      join(dir, 'import.csv'),
      'email,name,topics,keywords\nfirst@example.org,First,video;rl,\nnot-an-email,Bad,,\nsecond@example.org,"Second, Jr.",,Basque\nthird@example.org,,astrology,\nana.lopez@example.org,Ana,,\n',
    );
    const imported = await cli(dir, ['subscribers', 'import', 'import.csv']);
    expect(imported.code).toBe(3);
    expect(imported.stderr).toMatch(/rejected: import\.csv line 3 \(not-an-email\): email: /);
    expect(imported.stderr).toMatch(/rejected: import\.csv line 5 \(third@example\.org\): unknown topic astrology/);
    expect(imported.stderr).toMatch(/skipped: ana\.lopez@example\.org is already on the list/);
    expect(imported.stdout).toMatch(/Imported 2 of 5 rows; 2 rejected, 1 already on the list\./);

    await writeFile(join(dir, 'import.json'), JSON.stringify([{ email: 'fourth@example.org', excludeTopics: ['benchmarks'] }, { email: 'bad' }]));
    const importedJson = await cli(dir, ['subscribers', 'import', 'import.json']);
    expect(importedJson.stderr).toMatch(/rejected: import\.json entry #1 \(bad\)/);

    const csv = await cli(dir, ['subscribers', 'export', '--format', 'csv']);
    expect(csv.stdout.split('\n')[0]).toBe('email,name,status,topics,excludeTopics,authors,keywords,subscribedAt');
    expect(csv.stdout).toMatch(/^second@example\.org,"Second, Jr\.",active,,,,Basque,/m);
    expect(csv.stdout).toMatch(/^fourth@example\.org,,active,,benchmarks,,,/m);

    expect((await cli(dir, ['subscribers', 'remove', 'first@example.org'])).code).toBe(0);
    expect((await cli(dir, ['subscribers', 'remove', 'first@example.org'])).stderr).toMatch(/not on the list/);
    const file = await storedSubscribers(dir);
    expect(file.subscribers.map((s) => s.email)).not.toContain('first@example.org');
    expect(file.subscribers).toHaveLength(11 + 1 + 2 + 1 - 1);
  });
});
