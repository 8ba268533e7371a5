#!/usr/bin/env -S node --max-semi-space-size=4
// Entry point for the `digest-mailer` command. The TypeScript sources run as JavaScript compiled
// from them on the first start after any change (bin/compiled.js), so there is no build step to
// forget after an edit, and no transpiler in the process. Where the installation cannot be
// written (a read-only or system-wide install), they run through tsx's loader as before.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compiledSources } from './compiled.js';

let entry;
try {
  entry = join(await compiledSources(), 'cli/main.js');
} catch (err) {
  if (!['EACCES', 'EPERM', 'EROFS'].includes(err?.code)) throw err;
  const { register } = await import('tsx/esm/api');
  register();
  entry = new URL('../src/cli/main.ts', import.meta.url);
}
// Stack traces name the TypeScript file and line (the compiled files carry source maps).
process.setSourceMapsEnabled(true);
await import(entry instanceof URL ? entry.href : pathToFileURL(entry).href);
