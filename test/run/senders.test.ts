import { describe, expect, it } from 'vitest';
import { runSender, type SenderLoop } from '../../src/run/senders.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import type { ClaimedDelivery } from '../../src/store/types.js';
import { ENGINES, freshStoreEach } from '../store/engines.js';

const available = Object.fromEntries(await Promise.all(ENGINES.map(async (e) => [e.name, await e.available()] as const)));
const ISSUE = '2025-11-04';

async function queue(store: KyselyStore, n: number, from = 0): Promise<void> {
  const at = '2025-11-04T07:00:00.000Z';
  await store.insertDeliveries(
    Array.from({ length: n }, (_, i) => ({ issue: ISSUE, sections: [ISSUE], emailKey: `r${from + i}@example.org`, subscriberId: null, status: 'queued' as const, at })),
  );
}

describe.each(ENGINES)('senders on $name', (engine) => {
  const fresh = freshStoreEach(engine);

  /** A sender whose "send" records who sent what and completes the delivery as sent. */
  function sender(owner: string, sent: Map<string, string[]>, extra: Partial<SenderLoop> = {}): SenderLoop {
    return {
      store: fresh.store,
      issue: ISSUE,
      owner,
      batchSize: 7,
      concurrency: 3,
      leaseMs: 60_000,
      pollMs: 20,
      send: async (d: ClaimedDelivery) => {
        sent.set(d.emailKey, [...(sent.get(d.emailKey) ?? []), owner]);
        await new Promise((r) => setTimeout(r, 1));
        await fresh.store.completeDeliveries([{ id: d.id, status: 'sent', messageId: `<${d.emailKey}>`, at: new Date().toISOString() }]);
        return true;
      },
      stopped: () => false,
      planning: async () => false,
      isDeadOwner: () => false,
      ...extra,
    };
  }

  describe.skipIf(!available[engine.name])('', () => {
    it('splits a queue between concurrent senders: everyone once, nobody twice', async () => {
      await queue(fresh.store, 120);
      const sent = new Map<string, string[]>();
      await Promise.all(['A', 'B', 'C'].map((o) => runSender(sender(o, sent))));
      expect(sent.size).toBe(120);
      expect([...sent.values()].every((owners) => owners.length === 1)).toBe(true);
      expect(new Set([...sent.values()].flat()).size).toBeGreaterThan(1);
      expect(await fresh.store.countDeliveries(ISSUE)).toMatchObject({ queued: 0, claimed: 0, sent: 120 });
    });

    it('waits for the claims of a sender that stopped answering and takes them over when their lease expires', async () => {
      await queue(fresh.store, 30);
      // A sender on another machine claimed 10 and died: its claims expire after 400 ms.
      const lost = await fresh.store.claimDeliveries({ issue: ISSUE, owner: 'elsewhere:1:dead', limit: 10, now: new Date(), ttlMs: 400 });
      const sent = new Map<string, string[]>();
      await runSender(sender('A', sent));
      expect(sent.size).toBe(30);
      for (const d of lost) expect(sent.get(d.emailKey)).toEqual(['A']);
      expect((await fresh.store.listDeliveries({ issue: ISSUE, status: 'sent' }, { limit: 100 })).every((d) => d.attempts >= 1)).toBe(true);
    });

    it('takes over the claims of a dead process on this host at once, without waiting for the lease', async () => {
      await queue(fresh.store, 12);
      await fresh.store.claimDeliveries({ issue: ISSUE, owner: 'here:99999:dead', limit: 5, now: new Date(), ttlMs: 10 * 60_000 });
      const sent = new Map<string, string[]>();
      // The lease has ten minutes left: finishing at all means the dead owner was recognised.
      await runSender(sender('A', sent, { isDeadOwner: (o) => o.endsWith(':dead') }));
      expect(sent.size).toBe(12);
    });

    it('renews the lease of a long batch, so a sender that is slow but alive keeps its claims', async () => {
      await queue(fresh.store, 4);
      const sent = new Map<string, string[]>();
      const slow = sender('slow', sent, {
        batchSize: 4,
        concurrency: 1,
        leaseMs: 1000,
        send: async (d) => {
          await new Promise((r) => setTimeout(r, 450));
          sent.set(d.emailKey, [...(sent.get(d.emailKey) ?? []), 'slow']);
          await fresh.store.completeDeliveries([{ id: d.id, status: 'sent', at: new Date().toISOString() }]);
          return true;
        },
      });
      // A second sender starts once the slow one holds all four: without renewal their lease
      // would expire during the 1.8 s batch and the second would send them again.
      const first = runSender(slow);
      await new Promise((r) => setTimeout(r, 100));
      await runSender(sender('B', sent, { leaseMs: 1000 }));
      await first;
      expect(sent.size).toBe(4);
      expect([...sent.values()].every((owners) => owners.length === 1 && owners[0] === 'slow')).toBe(true);
    });

    it('keeps looking while the planner is still queueing, then sends what it queued', async () => {
      await queue(fresh.store, 5);
      let planning = true;
      const planner = (async () => {
        await new Promise((r) => setTimeout(r, 200));
        await queue(fresh.store, 5, 5);
        planning = false;
      })();
      const sent = new Map<string, string[]>();
      await runSender(sender('A', sent, { planning: async () => planning }));
      await planner;
      expect(sent.size).toBe(10);
    });

    it('starts the next batch while the slowest send of the last one is still under way', async () => {
      await queue(fresh.store, 8);
      const events: string[] = [];
      let first = true;
      await runSender(
        sender('A', new Map(), {
          batchSize: 4,
          concurrency: 2,
          send: async (d) => {
            // The first send of the first batch is slow; the other three finish at once.
            const slow = first;
            first = false;
            events.push(`start ${d.emailKey}`);
            await new Promise((r) => setTimeout(r, slow ? 600 : 1));
            await fresh.store.completeDeliveries([{ id: d.id, status: 'sent', at: new Date().toISOString() }]);
            events.push(`end ${d.emailKey}`);
            return true;
          },
        }),
      );
      const slowEnd = events.indexOf(`end ${events[0]!.slice(6)}`);
      // Batch-by-batch sending would start nothing of the second batch (r4..r7) before it ended.
      const secondBatchStarts = events.slice(0, slowEnd).filter((e) => /^start r[4-7]@/.test(e));
      expect(secondBatchStarts.length).toBeGreaterThan(0);
      expect(events.filter((e) => e.startsWith('end')).length).toBe(8);
      expect(await fresh.store.countDeliveries(ISSUE)).toMatchObject({ queued: 0, claimed: 0, sent: 8 });
    });

    it('stops when told, leaves the rest queued and holds no claims', async () => {
      await queue(fresh.store, 40);
      const sent = new Map<string, string[]>();
      let stop = false;
      const base = sender('A', sent);
      const result = await runSender({
        ...base,
        stopped: () => stop,
        send: async (d) => {
          if (stop) return false;
          await base.send(d);
          if (sent.size >= 10) stop = true;
          return true;
        },
      });
      const counts = await fresh.store.countDeliveries(ISSUE);
      expect(counts.claimed).toBe(0);
      expect(counts.sent).toBe(sent.size);
      expect(counts.queued).toBe(40 - sent.size);
      expect(result.pending).toBeGreaterThanOrEqual(0);
    });
  });
});
