import { describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import type { SubscribeIntakeRequest } from '../../src/store/types.js';
import { IntakeDrainer, type IntakeHandler } from '../../src/web/intake.js';
import { withProjectStore } from '../store/project-store.js';
import { cli, makeProject } from './cli-helpers.js';

const READERS = ['ada.given-up@example.org', 'bo.given-up@example.org', 'cy.given-up@example.org'];

/** Drains the intake once with `handle`, giving up at the first failure, as `serve`'s drainer does after its attempts. */
async function drainOnce(store: Store, handle: IntakeHandler): Promise<void> {
  const drainer = new IntakeDrainer({ store, handle, track: () => undefined, log: () => undefined, maxAttempts: 1, pollMs: 3_600_000 });
  await drainer.start();
  // start() kicks a pass on the next turn; idle() waits for it.
  await new Promise((r) => setImmediate(r));
  await drainer.idle();
  drainer.stop();
}

/** A project whose intake holds three requests the drainer gave up on (their errors name the address) and one waiting. */
async function projectWithGivenUp(): Promise<{ dir: string; ids: number[] }> {
  const dir = await makeProject();
  const ids = await withProjectStore(dir, async (store) => {
    const at = new Date().toISOString();
    const ids: number[] = [];
    for (const email of READERS) ids.push(await store.enqueueSubscribe({ email, name: `Name of ${email.split('.')[0]}`, topics: [] }, at));
    await drainOnce(store, async (request: SubscribeIntakeRequest) => {
      throw new Error(`550 5.1.1 <${request.email}>: relay refused ${request.email}`);
    });
    await store.enqueueSubscribe({ email: 'waiting@example.org', topics: [] }, at);
    return ids;
  });
  return { dir, ids };
}

describe('digest-mailer db status and db intake', () => {
  it('db status shows the given-up requests (count, age, last error masked, ids) and never an address or name', async () => {
    const { dir, ids } = await projectWithGivenUp();
    const status = await cli(dir, ['db', 'status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/intake: +1 waiting, 3 given up/);
    expect(status.stdout).toMatch(/oldest received (under a minute|\d+ min) ago; each is deleted 30 days after it was given up/);
    expect(status.stdout).toContain(`last:     #${ids[2]}, given up`);
    expect(status.stdout).toContain('550 5.1.1 <address>: relay refused address');
    expect(status.stdout).toContain(`ids:      ${ids.map((id) => `#${id}`).join(' ')}`);
    expect(status.stdout).toContain('db intake retry');
    for (const text of [...READERS, 'waiting@example.org', 'Name of', 'example.org']) expect(status.stdout + status.stderr).not.toContain(text);
  });

  it('db intake retry queues named given-up requests again (exit 3 when some named are not given up, 1 when none is), and the drainer then handles them', async () => {
    const { dir, ids } = await projectWithGivenUp();
    const [first, second] = ids as [number, number, number];
    const some = await cli(dir, ['db', 'intake', 'retry', String(second), '999999']);
    expect(some.code, some.stderr).toBe(3);
    expect(some.stdout).toContain(`1 given-up subscribe request queued again: #${second}`);
    expect(some.stderr).toContain('#999999');
    const none = await cli(dir, ['db', 'intake', 'retry', String(second)]);
    expect(none.code).toBe(1);

    const handled: string[] = [];
    await withProjectStore(dir, async (store) => {
      expect(await store.subscribeIntakeCounts()).toEqual({ queued: 2, failed: 2 });
      // A retried row is a new one: its attempts start again, so it is not given up at once.
      await drainOnce(store, async (request) => {
        handled.push(request.email);
        return null;
      });
      expect(await store.subscribeIntakeCounts()).toEqual({ queued: 0, failed: 2 });
    });
    expect(handled).toEqual([READERS[1], 'waiting@example.org']);

    const all = await cli(dir, ['db', 'intake', 'retry', '--all']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toContain(`2 given-up subscribe requests queued again: #${first} #${ids[2]}`);
    const status = await cli(dir, ['db', 'status']);
    expect(status.stdout).toMatch(/intake: +2 waiting, 0 given up/);
  });

  it('db intake discard deletes given-up requests only, with their address and name', async () => {
    const { dir, ids } = await projectWithGivenUp();
    const one = await cli(dir, ['db', 'intake', 'discard', `#${ids[0]}`]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain(`1 given-up subscribe request deleted: #${ids[0]}`);
    const rest = await cli(dir, ['db', 'intake', 'discard', '--all']);
    expect(rest.code, rest.stderr).toBe(0);
    expect(rest.stdout).toContain(`2 given-up subscribe requests deleted: #${ids[1]} #${ids[2]}`);
    await withProjectStore(dir, async (store) => {
      // The waiting request is not touched; the others are gone, and with them their addresses.
      expect(await store.subscribeIntakeCounts()).toEqual({ queued: 1, failed: 0 });
      expect(await store.retrySubscribeIntake({ ids }, new Date().toISOString())).toEqual([]);
    });
    const again = await cli(dir, ['db', 'intake', 'discard', '--all']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('0 given-up subscribe requests deleted');
  });

  it('refuses an intake command without ids or --all, with both, or with an id that is not a number (exit 2)', async () => {
    const dir = await makeProject();
    for (const args of [['retry'], ['discard'], ['retry', '3', '--all'], ['discard', 'ada@example.org']]) {
      const result = await cli(dir, ['db', 'intake', ...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/--all|request id/);
    }
  });
});
