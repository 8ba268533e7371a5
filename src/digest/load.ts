import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { InputError } from '../errors.js';
import { mergeDigests, parseDigest, type ParseResult } from './parse.js';

/** Reads every `*.md` in the digests folder (sorted by name) and parses them together. */
export async function loadDigests(dir: string, displayBase = process.cwd()): Promise<ParseResult> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.md')).sort();
  } catch (err) {
    throw new InputError(
      `cannot read the digests folder ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      'Create it or set paths.digests in the config file.',
    );
  }
  const results = await Promise.all(
    names.map(async (name) => {
      const path = join(dir, name);
      return parseDigest(await readFile(path, 'utf8'), relative(displayBase, path) || name);
    }),
  );
  return mergeDigests(results);
}
