// The project's TypeScript sources as plain JavaScript, compiled by esbuild (the compiler tsx
// uses, file by file, no bundling) into .src-js/ beside src/, so every path a module takes
// relative to itself (import.meta.url) still holds. Compiled again whenever a source file's
// content changes (a hash of every file is kept with the output), so there is still no build
// step to remember after an edit. Why not tsx's loader at run time: its hooks run on a thread
// of their own and cost every process about 50 MB of resident memory (a send, the web app, the
// scheduler) and the transpiling of each module on load.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');
export const COMPILED = join(ROOT, '.src-js');
const STAMP = '.sources-hash';

function sources(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sources(path, out);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out.sort();
}

function hashOf(files) {
  const hash = createHash('sha256');
  // This file (the compiler options below), tsconfig.json and esbuild's version are part of what
  // the output depends on.
  hash.update(readFileSync(fileURLToPath(import.meta.url)));
  hash.update(readFileSync(join(ROOT, 'tsconfig.json')));
  try {
    hash.update(readFileSync(join(ROOT, 'node_modules/esbuild/package.json')));
  } catch {
    /* esbuild installed elsewhere: its version is not part of the key */
  }
  for (const file of files) hash.update(relative(SRC, file)).update('\0').update(readFileSync(file)).update('\0');
  return hash.digest('hex');
}

function current(hash) {
  try {
    return readFileSync(join(COMPILED, STAMP), 'utf8') === hash;
  } catch {
    return false;
  }
}

/**
 * Makes .src-js/ match src/ and returns its path. Several processes starting at once (the CLI
 * tests, `run --workers N`) compile under one lock; a process that finds the output current
 * reads nothing but the sources' hash.
 */
export async function compiledSources() {
  const files = sources(SRC);
  const hash = hashOf(files);
  if (current(hash)) return COMPILED;
  const { default: lockfile } = await import('proper-lockfile');
  const release = await lockfile.lock(ROOT, { lockfilePath: `${COMPILED}.lock`, realpath: false, stale: 30_000, retries: { retries: 300, minTimeout: 20, maxTimeout: 200 } });
  try {
    if (current(hash)) return COMPILED;
    const { buildSync } = await import('esbuild');
    const staging = `${COMPILED}.tmp-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    buildSync({
      entryPoints: files,
      outdir: staging,
      outbase: SRC,
      bundle: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Maps for stack traces; the TypeScript text itself is on disk, not kept in every process.
      sourcemap: true,
      sourcesContent: false,
      tsconfig: join(ROOT, 'tsconfig.json'),
      logLevel: 'error',
    });
    writeFileSync(join(staging, STAMP), hash);
    const old = `${COMPILED}.old-${process.pid}`;
    if (existsSync(COMPILED)) renameSync(COMPILED, old);
    renameSync(staging, COMPILED);
    rmSync(old, { recursive: true, force: true });
    return COMPILED;
  } finally {
    await release();
  }
}
