import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';
import { mergeDigests } from './merge.js';
import type { ParseResult } from './parse.js';

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
    // Loaded on a miss only: a run whose files are all cached never loads the Markdown parser.
    const { parseDigest } = await import('./parse.js');
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

/**
 * Where a digest file stops being text: the line of the first byte that is not UTF-8 or is a
 * control character no Markdown file holds (NUL, ESC ...). null for a text file.
 */
export function binaryAt(bytes: Buffer): { line: number; what: string } | null {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Decode the valid prefix to find the line of the first bad byte.
    const valid = new TextDecoder('utf-8').decode(bytes);
    const cut = valid.indexOf('\uFFFD');
    return { line: valid.slice(0, cut === -1 ? valid.length : cut).split('\n').length, what: 'bytes that are not UTF-8' };
  }
  // eslint-disable-next-line no-control-regex
  const control = /[\u0000-\u0008\u000B\u000E-\u001F\u007F]/.exec(text);
  if (!control) return null;
  const code = control[0].charCodeAt(0).toString(16).padStart(2, '0');
  return { line: text.slice(0, control.index).split('\n').length, what: `a control character (0x${code})` };
}

export interface LoadedDigests extends ParseResult {
  /** Files in the folder that are not `*.md` (reported by validate, never read). */
  ignored: string[];
}

/** Reads every `*.md` in the digests folder (sorted by name) and parses them together. */
export async function loadDigests(dir: string, options: LoadDigestOptions = {}): Promise<LoadedDigests> {
  const displayBase = options.displayBase ?? process.cwd();
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_DIGEST_FILE_BYTES;
  let names: string[];
  let ignored: string[];
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    names = entries.filter((e) => e.name.endsWith('.md')).map((e) => e.name).sort();
    ignored = entries.filter((e) => !e.name.endsWith('.md') && !e.name.startsWith('.') && e.isFile()).map((e) => relative(displayBase, join(dir, e.name))).sort();
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
      const bytes = await readFile(path);
      const binary = binaryAt(bytes);
      if (binary) {
        return {
          sections: [],
          problems: [
            {
              where: `${display}:${binary.line}`,
              message: `not a text file (${binary.what} at line ${binary.line}): skipped`,
              hint: 'digests/ holds Markdown digest files in UTF-8; move other files out of it, or re-save this one as UTF-8.',
            },
          ],
        };
      }
      return parseCached(bytes.toString('utf8'), display, options.cacheDir);
    }),
  );
  return { ...mergeDigests(results), ignored };
}
