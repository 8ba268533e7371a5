import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { forgetParsedDigests, loadDigests } from '../../src/digest/load.js';
import { parseDigest } from '../../src/digest/parse.js';
import { SEED_FILE } from '../helpers.js';

let dir: string;
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('digest parsing cached by file content', () => {
  it('stores each parsed file by content hash, reads it back equal, and parses again when the text changes', async () => {
    dir = await mkdtemp(join(tmpdir(), 'dm-digests-'));
    const digests = join(dir, 'digests');
    const cacheDir = join(dir, 'state/cache/digests');
    await cp(SEED_FILE, join(digests, '2025-11.md'));
    const first = await loadDigests(digests, { displayBase: dir, cacheDir });
    const cached = await readdir(cacheDir);
    expect(cached).toHaveLength(1);
    expect({ sections: first.sections, problems: first.problems }).toEqual(parseDigest(await readFile(SEED_FILE, 'utf8'), 'digests/2025-11.md'));

    // The cached entry is what the next process reads: tamper with it to prove it is used.
    const entry = join(cacheDir, cached[0]!);
    const stored = JSON.parse(await readFile(entry, 'utf8'));
    stored.sections[0].papers[0].title.text = 'FROM THE CACHE';
    await writeFile(entry, JSON.stringify(stored));
    forgetParsedDigests();
    const second = await loadDigests(digests, { displayBase: dir, cacheDir });
    expect(second.sections[0]!.papers[0]!.title.text).toBe('FROM THE CACHE');

    await writeFile(join(digests, '2025-11.md'), `${await readFile(SEED_FILE, 'utf8')}\n`);
    const third = await loadDigests(digests, { displayBase: dir, cacheDir });
    expect(third.sections[0]!.papers[0]!.title.text).not.toBe('FROM THE CACHE');
    expect(await readdir(cacheDir)).toHaveLength(2);
  });
});
