import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../../src/node-support.js';
import { scaled } from '../timeouts.js';

const ROOT = join(import.meta.dirname, '../..');

describe('the node flags of the command', () => {
  it('are the same in the shebang of bin/digest-mailer.js and in npm start', async () => {
    const bin = await readFile(join(ROOT, 'bin/digest-mailer.js'), 'utf8');
    expect(bin.split('\n')[0]).toBe(`#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${NODE_FLAGS.join(' ')} bin/digest-mailer.js run`);
  });

  it('the shebang line starts the command when the file is run itself', async () => {
    const { stdout } = await promisify(execFile)(join(ROOT, 'bin/digest-mailer.js'), ['--help'], { timeout: scaled(60_000) });
    expect(stdout).toContain('Usage: digest-mailer');
  }, scaled(90_000));
});
