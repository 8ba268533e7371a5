import { simpleParser } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { messageIdFor } from '../../src/mail/message-id.js';
import { FAST_DELIVERY, RECIPIENTS_2025_11_13, TEST_SECRET, cli, configure, makeProject } from '../cli/cli-helpers.js';
import { bareLineFeeds } from '../helpers.js';
import { DAILY_QUOTA, REJECTED, THROTTLED, startSesEmulator, startSesProxy, type SesAnswer, type SesEmulator, type SesProxy } from './servers.js';

const EXPECTED = RECIPIENTS_2025_11_13;
// Credentials reach the SDK through its default chain (here: the environment), never the config.
const env = {
  DIGEST_MAILER_SECRET: TEST_SECRET,
  AWS_ACCESS_KEY_ID: 'AKIDTEST',
  AWS_SECRET_ACCESS_KEY: 'test-secret-key',
  AWS_EC2_METADATA_DISABLED: 'true',
};

let emulator: SesEmulator;
let proxy: SesProxy | null = null;
beforeEach(async () => {
  emulator = await startSesEmulator();
  await emulator.clear(); // the emulator's store is per process, shared by its servers
});
afterEach(async () => {
  await proxy?.close();
  proxy = null;
  await emulator.close();
});

async function projectVia(decide: (index: number, raw: Buffer) => SesAnswer) {
  proxy = await startSesProxy(emulator.url, decide);
  const dir = await makeProject();
  await configure(dir, {
    transport: { type: 'ses', region: 'eu-west-1', endpoint: proxy.url, configurationSet: 'digest-events' },
    delivery: { ...FAST_DELIVERY, concurrency: 1 },
  });
  return dir;
}

const recipientsInStore = async () => (await emulator.store()).emails.map((e) => e.destination.to[0]!.replace(/^.*<|>$/g, '')).sort();

describe('SES delivery through SendRawEmail to the aws-ses-v2-local emulator', () => {
  it('stores one message per recipient, carrying the same MIME as SMTP would', async () => {
    const dir = await projectVia(() => 'forward');
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(0);
    expect(await recipientsInStore()).toEqual(EXPECTED);
    // Node 20 (past end of life): one line of ours instead of the SDK's multi-line warning; none on a maintained Node.
    expect(run.stderr).not.toMatch(/NodeVersionSupportWarning/);
    const notes = run.stderr.match(/is past its end of life/g) ?? [];
    expect(notes).toHaveLength(Number(process.versions.node.split('.')[0]) < 22 ? 1 : 0);
    const stored = (await emulator.store()).emails;
    expect(stored.every((e) => /^(?:\d+ new papers?|New from) .*— /.test(e.subject))).toBe(true);
    expect(stored.every((e) => e.body.html?.includes('unsubscribe?token=v1.') && e.body.text?.includes('Unsubscribe: https://'))).toBe(true);
    expect(proxy!.requests.every((r) => r.params.get('ConfigurationSetName') === 'digest-events')).toBe(true);
    for (const { raw } of proxy!.requests) {
      expect(bareLineFeeds(raw)).toBe(0);
      expect(raw.includes(Buffer.from('\r\n'))).toBe(true);
      const mail = await simpleParser(raw);
      const to = (Array.isArray(mail.to) ? mail.to[0] : mail.to)!.value[0]!.address!;
      expect(mail.messageId).toBe(messageIdFor('2025-11-13', to, 'mllm-digest.example.org'));
      expect(mail.headerLines.find((h) => h.key === 'list-unsubscribe-post')?.line).toBe('List-Unsubscribe-Post: List-Unsubscribe=One-Click');
      expect(mail.text).toBeTruthy();
      expect(mail.html).toBeTruthy();
    }
  });

  it('retries throttling ("Maximum sending rate exceeded") until delivered', async () => {
    const dir = await projectVia((i) => (i < 3 ? THROTTLED : 'forward'));
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Emails: 6 sent, 3 skipped \(no matching papers\), 0 failed/);
    expect(await recipientsInStore()).toEqual(EXPECTED);
    expect(proxy!.requests).toHaveLength(9);
  });

  it('records MessageRejected as permanent and does not retry it', async () => {
    const dir = await projectVia((_, raw) => (raw.toString().includes('To: Sofia Rossi') ? REJECTED : 'forward'));
    const run = await cli(dir, ['run'], env);
    expect(run.code).toBe(3);
    expect(run.stdout).toMatch(/sent 5, no match 3, failed 1/);
    expect(await recipientsInStore()).toEqual(EXPECTED.filter((e) => e !== 'sofia.rossi@example.org'));
    expect(proxy!.requests.filter((r) => r.answer !== 'forward')).toHaveLength(1);
  });

  it('stops cleanly at the daily quota with the rest pending, and the next run finishes', async () => {
    let quotaReached = true;
    const dir = await projectVia((i) => (quotaReached && i >= 2 ? DAILY_QUOTA : 'forward'));
    const first = await cli(dir, ['run'], env);
    expect(first.code).toBe(4);
    expect(first.stdout).toMatch(/Stopped early: the daily sending quota was reached\. 4 messages .* are pending/);
    expect(await recipientsInStore()).toHaveLength(2);
    expect(proxy!.requests).toHaveLength(3); // two sent, one refused, then no more attempts

    quotaReached = false;
    const second = await cli(dir, ['run'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/sent 4,.*done before 5/);
    expect(await recipientsInStore()).toEqual(EXPECTED);
  });

  it('bad credentials and an unverified sender are the session: exit 5, nobody failed, a rerun delivers everyone once', async () => {
    let answer: SesAnswer = { status: 403, code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.' };
    const dir = await projectVia(() => answer);
    const first = await cli(dir, ['run'], env);
    expect(first.code).toBe(5);
    expect(first.stdout).toMatch(/at the login stage/);
    expect(first.stdout).toMatch(/Check: Check the AWS credentials/);
    expect(first.stdout).toMatch(/failed 0/);
    expect(proxy!.requests.length).toBeLessThanOrEqual(3);

    answer = { status: 400, code: 'MessageRejected', message: 'Email address is not verified. The following identities failed the check in region EU-WEST-1: digest@example.org' };
    const second = await cli(dir, ['run'], env);
    expect(second.code).toBe(5);
    expect(second.stdout).toMatch(/at the sender stage/);
    expect(second.stdout).toMatch(/Verify list\.from\.address/);
    expect(await recipientsInStore()).toEqual([]);

    answer = 'forward';
    const third = await cli(dir, ['run'], env);
    expect(third.code).toBe(0);
    expect(third.stdout).toMatch(/sent 6/);
    expect(await recipientsInStore()).toEqual(EXPECTED);
  });
});
