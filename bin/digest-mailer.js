#!/usr/bin/env node
// Entry point for the `digest-mailer` command. The TypeScript sources run as JavaScript compiled
// from them on the first start after any change (bin/compiled.js), so there is no build step to
// forget after an edit, and no transpiler in the process.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compiledSources } from './compiled.js';

// Stack traces name the TypeScript file and line (the compiled files carry source maps).
process.setSourceMapsEnabled(true);
await import(pathToFileURL(join(await compiledSources(), 'cli/main.js')).href);
