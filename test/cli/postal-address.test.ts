import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withProjectStore } from '../store/project-store.js';
import { TEST_SECRET, cli, configure, makeProject } from './cli-helpers.js';

/** A project with a real transport (nothing listens on port 9: it must never get that far) and no postal address. */
async function withoutAddress(): Promise<string> {
  const dir = await makeProject();
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  delete config.list.postalAddress;
  await configure(dir, { list: config.list, transport: { type: 'smtp', host: '127.0.0.1', port: 9, requireTLS: false } });
  return dir;
}

describe('CAN-SPAM: a real send needs list.postalAddress', () => {
  it('run refuses to start through a real transport, naming the key and the file, and sends or records nothing', async () => {
    const dir = await withoutAddress();
    const run = await cli(dir, ['run'], { DIGEST_MAILER_SECRET: TEST_SECRET });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/list\.postalAddress is not set in .*config\.json: every digest sent through the smtp transport must show the sender's postal address \(CAN-SPAM\)/);
    expect(run.stderr).toMatch(/Add "postalAddress"/);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace without --verbose
    expect(await withProjectStore(dir, (store) => store.listDeliveries({}))).toEqual([]);
  });

  it('validate reports it too; the outbox and a dry run need none', async () => {
    const dir = await withoutAddress();
    const checked = await cli(dir, ['validate'], { DIGEST_MAILER_SECRET: TEST_SECRET });
    expect(checked.code).toBe(1);
    expect(checked.stderr).toMatch(/list: list\.postalAddress is not set/);
    expect((await cli(dir, ['run', '--dry-run'], { DIGEST_MAILER_SECRET: TEST_SECRET })).code).toBe(0);
    await configure(dir, { transport: { type: 'outbox' } });
    expect((await cli(dir, ['run'])).code).toBe(0);
  });

  it('prints the address in the footer of both parts when it is set', async () => {
    const dir = await makeProject();
    const run = await cli(dir, ['run']);
    expect(run.code, run.stderr).toBe(0);
    const eml = await readFile(join(dir, 'outbox/2025-11-13/ana.lopez_at_example.org.eml'), 'utf8');
    const { simpleParser } = await import('mailparser');
    const mail = await simpleParser(eml);
    expect(mail.text).toContain('Digest Lab, 1 Example Street, 10115 Berlin, Germany');
    expect(mail.html).toMatch(/<p class="dm-footer"[^>]*>[\s\S]*Digest Lab, 1 Example Street, 10115 Berlin, Germany<\/p>/);
    expect(mail.headers.get('feedback-id')).toBe('2025-11-13:digest:mllm-digest.example.org');
  });
});
