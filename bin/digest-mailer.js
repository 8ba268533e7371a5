#!/usr/bin/env node
// Entry point for the `digest-mailer` command. The project runs its TypeScript sources
// directly through tsx's loader, so there is no build step to forget after an edit.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
