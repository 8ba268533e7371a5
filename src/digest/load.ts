import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';
import { mergeDigests, parseDigest, type ParseResult } from './parse.js';

export interface LoadDigestOptions {
  displayBase?: string;
  /** A digest file larger than this is reported by name and skipped; the other files still go. */
  maxFileBytes?: number;
  /** Folder for parsed files keyed by content hash (a year of history is not re-parsed each run). */
  cacheDir?: string | undefined;
}

/** Default cap on one digest file: a daily file is tens of kilobytes, a year of them a few MB. */
export const DEFAULT_MAX_DIGEST_FILE_BYTES = 20 * 1024 * 1024;

let parserVersion: Promise<string> | null = null;

/**
 * The cache key includes a hash of the parser's own source files, so a change to how digests
 * are parsed invalidates every cached result without anyone remembering to bump a version.
 */
function parserFingerprint(): Promise<string> {
  parserVersion ??= (async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const hash = createHash('sha256');
    for (const name of (await readdir(here)).sort()) {
      if (/\.(ts|js)$/.test(name)) hash.update(name).update(await readFile(join(here, name)));
    }
    return hash.digest('hex').slice(0, 16);
  })();
  return parserVersion;
}

/** In-process cache too: the scheduler, the web app and the preview read the same files again. */
const memory = new Map<string, ParseResult>();
const MEMORY_ENTRIES = 2_000;

/** Drops the in-process cache (the on-disk one stays): what a new process starts with. */
export function forgetParsedDigests(): void {
  memory.clear();
}

async function parseCached(text: string, display: string, cacheDir: string | undefined): Promise<ParseResult> {
  const key = createHash('sha256').update(await parserFingerprint()).update('\0').update(display).update('\0').update(text).digest('hex');
  const hit = memory.get(key);
  if (hit) return hit;
  const file = cacheDir ? join(cacheDir, `${key}.json`) : null;
  let result: ParseResult | null = null;
  if (file) {
    try {
      result = JSON.parse(await readFile(file, 'utf8')) as ParseResult;
    } catch {
      result = null; // missing or unreadable: parse again
    }
  }
  if (!result) {
    result = parseDigest(text, display);
    if (file) {
      await mkdir(cacheDir!, { recursive: true, mode: 0o700 });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(result), { mode: 0o600 });
      await rename(tmp, file);
    }
  }
  if (memory.size >= MEMORY_ENTRIES) memory.delete(memory.keys().next().value!);
  memory.set(key, result);
  return result;
}

/** Reads every `*.md` in the digests folder (sorted by name) and parses them together. */
export async function loadDigests(dir: string, options: LoadDigestOptions = {}): Promise<ParseResult> {
  const displayBase = options.displayBase ?? process.cwd();
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_DIGEST_FILE_BYTES;
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
    names.map(async (name): Promise<ParseResult> => {
      const path = join(dir, name);
      const display = relative(displayBase, path) || name;
      const { size } = await stat(path);
      if (size > maxFileBytes) {
        return {
          sections: [],
          problems: [
            {
              where: display,
              message: `the digest file is ${size.toLocaleString('en')} bytes, over limits.maxDigestFileBytes (${maxFileBytes.toLocaleString('en')}): skipped`,
              hint: 'Split it into smaller files, fix what made it so large, or raise limits.maxDigestFileBytes in the config file.',
            },
          ],
        };
      }
      return parseCached(await readFile(path, 'utf8'), display, options.cacheDir);
    }),
  );
  return mergeDigests(results);
}
