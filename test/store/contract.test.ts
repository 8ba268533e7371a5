import { stat } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Subscriber } from '../../src/audience/schema.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { ENGINES } from './engines.js';

const available = Object.fromEntries(await Promise.all(ENGINES.map(async (e) => [e.name, await e.available()] as const)));

function reader(email: string, extra: Partial<Subscriber> = {}): Omit<Subscriber, 'history'> {
  return { email, status: 'active', topics: [], excludeTopics: [], authors: [], keywords: [], ...extra };
}

async function addReaders(store: KyselyStore, n: number, status: Subscriber['status'] = 'active'): Promise<void> {
  await store.importSubscribers(
    Array.from({ length: n }, (_, i) => ({ subscriber: reader(`r${String(i).padStart(5, '0')}@example.org`, { status }), history: [] })),
    'test',
  );
}

describe.each(ENGINES)('Store contract on $name', (engine) => {
  let store: KyselyStore;
  let dispose: () => Promise<void>;
  beforeEach(async () => {
    ({ store, dispose } = await engine.open());
  });
  afterEach(async () => {
    await dispose?.();
  });

  describe.skipIf(!available[engine.name])('', () => {
    it('queues subscribe requests, claims the oldest due one, retries, gives up, releases and deletes', async () => {
      const t0 = new Date('2026-03-01T09:00:00.000Z');
      const later = (ms: number) => new Date(t0.getTime() + ms);
      const first = await store.enqueueSubscribe({ email: 'Ada@Example.org', name: 'Ada', topics: ['video', 'rl'] }, t0.toISOString());
      const second = await store.enqueueSubscribe({ email: 'bo@example.org', topics: [] }, t0.toISOString());
      expect(await store.subscribeIntakeCounts()).toEqual({ queued: 2, failed: 0 });

      const a = await store.claimSubscribeIntake('owner-a', t0, 60_000);
      expect(a).toEqual({ id: first, request: { email: 'Ada@Example.org', name: 'Ada', topics: ['video', 'rl'] }, receivedAt: t0.toISOString(), attempts: 1 });
      // Held rows are skipped; the next one is handed out.
      const b = await store.claimSubscribeIntake('owner-b', t0, 60_000);
      expect(b).toMatchObject({ id: second, request: { email: 'bo@example.org', topics: [] }, attempts: 1 });
      expect(await store.claimSubscribeIntake('owner-b', t0, 60_000)).toBeUndefined();

      // A failure waits for its retry time, without holding the others.
      await store.failSubscribeIntake(first, 'database is locked', t0.toISOString(), later(5_000).toISOString());
      expect(await store.claimSubscribeIntake('owner-a', later(1_000), 60_000)).toBeUndefined();
      expect(await store.claimSubscribeIntake('owner-a', later(5_000), 60_000)).toMatchObject({ id: first, attempts: 2 });
      // An expired claim is taken over.
      expect(await store.claimSubscribeIntake('owner-c', later(61_000), 60_000)).toMatchObject({ id: second, attempts: 2 });
      // Claims of an owner that is gone are released, others' kept.
      expect(await store.releaseSubscribeIntake({ isDead: (owner) => owner === 'owner-c' })).toBe(1);
      expect(await store.releaseSubscribeIntake({ owner: 'owner-x' })).toBe(0);
      expect(await store.claimSubscribeIntake('owner-d', later(61_000), 60_000)).toMatchObject({ id: second, attempts: 3 });

      // Given up: kept and counted, never claimed again.
      await store.failSubscribeIntake(first, 'still failing', later(62_000).toISOString(), null);
      expect(await store.claimSubscribeIntake('owner-a', later(3_600_000), 60_000)).toMatchObject({ id: second });
      await store.completeSubscribeIntake(second);
      expect(await store.claimSubscribeIntake('owner-a', later(7_200_000), 60_000)).toBeUndefined();
      expect(await store.subscribeIntakeCounts()).toEqual({ queued: 0, failed: 1 });
    });

    it('shows given-up intake rows without their address, retries and discards them (all or by id), and purges them after retention', async () => {
      const t0 = new Date('2026-03-01T09:00:00.000Z');
      const iso = (days: number) => new Date(t0.getTime() + days * 86_400_000).toISOString();
      expect(await store.givenUpSubscribeIntake(10)).toEqual({ count: 0, oldestReceivedAt: null, latest: null, ids: [] });
      const ids: number[] = [];
      for (const [i, email] of ['ada@example.org', 'bo@example.org', 'cy@example.org', 'di@example.org'].entries()) {
        ids.push(await store.enqueueSubscribe({ email, name: `Reader ${i}`, topics: [] }, iso(i)));
      }
      const [a, b, c, d] = ids as [number, number, number, number];
      // a, b and c given up (c last), d still queued.
      await store.failSubscribeIntake(a, 'database is locked', iso(5), null);
      await store.failSubscribeIntake(b, 'compose failed', iso(6), null);
      await store.failSubscribeIntake(c, '550 <cy@example.org> unknown', iso(7), null);
      await store.failSubscribeIntake(d, 'later', iso(7), iso(8));
      expect(await store.givenUpSubscribeIntake(2)).toEqual({ count: 3, oldestReceivedAt: iso(0), latest: { id: c, failedAt: iso(7), error: '550 <cy@example.org> unknown' }, ids: [a, b] });

      // Retry by id: only given-up rows named; the row comes back as new, due at once.
      expect(await store.retrySubscribeIntake({ ids: [b, d, 999_999] }, iso(10))).toEqual([b]);
      expect(await store.subscribeIntakeCounts()).toEqual({ queued: 2, failed: 2 });
      expect(await store.claimSubscribeIntake('owner-a', new Date(iso(10)), 60_000)).toMatchObject({ id: b, attempts: 1, request: { email: 'bo@example.org' } });

      // Retention: only rows given up before the cutoff go.
      expect(await store.purgeSubscribeIntake(iso(5))).toBe(0);
      expect(await store.purgeSubscribeIntake(iso(6))).toBe(1);
      expect((await store.givenUpSubscribeIntake(10)).ids).toEqual([c]);

      // Discard by id leaves others alone; discarding all takes the rest of the given-up rows only.
      expect(await store.discardSubscribeIntake({ ids: [d] })).toEqual([]);
      await store.failSubscribeIntake(d, 'again', iso(11), null);
      expect(await store.discardSubscribeIntake({ ids: [d] })).toEqual([d]);
      await store.failSubscribeIntake(b, 'again', iso(11), null);
      expect(await store.discardSubscribeIntake('all')).toEqual([b, c]);
      expect(await store.subscribeIntakeCounts()).toEqual({ queued: 0, failed: 0 });
      expect(await store.retrySubscribeIntake('all', iso(12))).toEqual([]);
    });

    it('is migrated to the latest version, and migrating again changes nothing', async () => {
      const state = await store.migrationState();
      expect(state.applied).toContain('001_initial');
      expect(state.pending).toEqual([]);
      expect(await store.migrate()).toEqual([]);
    });

    it('creates, reads, changes and removes one subscriber with consent events as rows', async () => {
      const created = await store.mutateSubscriber('Ada@Example.org', (current) => {
        expect(current).toBeUndefined();
        return { result: 'new', put: { subscriber: reader('Ada@Example.org', { status: 'pending', name: 'Ada', topics: ['vision'] }), change: { event: 'subscribed', by: 'web' } } };
      });
      expect(created).toBe('new');
      const got = await store.getSubscriber('ada@example.org');
      expect(got).toMatchObject({ email: 'Ada@Example.org', name: 'Ada', status: 'pending', topics: ['vision'], tokenGeneration: 0, firstSeenAt: null });

      await store.mutateSubscriber('ADA@example.org', (current) => ({
        result: null,
        put: { subscriber: { ...current!, status: 'active', keywords: ['diffusion'] }, change: { event: 'confirmed', by: 'web', detail: 'x'.repeat(900) } },
      }));
      expect(await store.getSubscriber('ada@example.org')).toMatchObject({ status: 'active', keywords: ['diffusion'], topics: ['vision'] });
      const history = await store.consentHistory('ada@example.org');
      expect(history.map((h) => [h.event, h.by])).toEqual([['subscribed', 'web'], ['confirmed', 'web']]);
      expect(history[1]!.detail).toHaveLength(500);

      await store.mutateSubscriber('ada@example.org', () => ({ result: null, event: { event: 'confirmation-sent', by: 'web' } }));
      expect((await store.consentHistory('ada@example.org')).at(-1)!.event).toBe('confirmation-sent');

      const removed = await store.mutateSubscriber('ada@example.org', (current) => ({ result: current !== undefined, remove: true }));
      expect(removed).toBe(true);
      expect(await store.getSubscriber('ada@example.org')).toBeUndefined();
      expect(await store.consentHistory('ada@example.org')).toEqual([]);
    });

    it('keeps preference fields it has no column for (new preferences need no migration)', async () => {
      const extra = { ...reader('x@example.org'), authors: ['Jane Doe'] };
      await store.mutateSubscriber('x@example.org', () => ({ result: null, put: { subscriber: extra, change: { event: 'added', by: 'cli' } } }));
      expect((await store.getSubscriber('x@example.org'))!.authors).toEqual(['Jane Doe']);
    });

    it('revokes links by raising the token generation', async () => {
      await addReaders(store, 1);
      const email = 'r00000@example.org';
      expect(await store.tokenGeneration(email)).toBe(0);
      await store.mutateSubscriber(email, () => ({ result: null, revokeLinks: true, event: { event: 'unsubscribed', by: 'web' } }));
      await store.mutateSubscriber(email, () => ({ result: null, revokeLinks: true }));
      expect(await store.tokenGeneration(email)).toBe(2);
      expect(await store.tokenGeneration('nobody@example.org')).toBeUndefined();
      expect(await store.linkGenerations(email)).toEqual({ current: 2, unsubscribeFloor: 2 });
      // A reader's link request: new generation, older unsubscribe links still inside the range.
      await store.mutateSubscriber(email, () => ({ result: null, revokeLinks: 'keep-unsubscribe' }));
      await store.mutateSubscriber(email, () => ({ result: null, revokeLinks: 'keep-unsubscribe' }));
      expect(await store.linkGenerations(email)).toEqual({ current: 4, unsubscribeFloor: 2 });
      await store.mutateSubscriber(email, () => ({ result: null, revokeLinks: true }));
      expect(await store.linkGenerations(email)).toEqual({ current: 5, unsubscribeFloor: 5 });
      expect(await store.linkGenerations('nobody@example.org')).toBeUndefined();
    });

    it('serialises concurrent changes to one address: none is lost', async () => {
      await addReaders(store, 1);
      const email = 'r00000@example.org';
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.mutateSubscriber(email, (current) => ({
            result: null,
            put: { subscriber: { ...current!, keywords: [...current!.keywords, `kw${i}`] }, change: { event: 'preferences-changed', by: 'test' } },
          })),
        ),
      );
      expect((await store.getSubscriber(email))!.keywords).toHaveLength(20);
    });

    it('pages subscribers by keyset, filtered by status and first-seen time, and reports rows that no longer validate', async () => {
      await addReaders(store, 25);
      await addReaders(store, 0);
      await store.mutateSubscriber('gone@example.org', () => ({ result: null, put: { subscriber: reader('gone@example.org', { status: 'unsubscribed' }), change: { event: 'unsubscribed', by: 'test' } } }));
      const seen: string[] = [];
      for await (const page of store.streamSubscribers({ limit: 10, status: 'active' })) {
        expect(page.subscribers.length).toBeLessThanOrEqual(10);
        seen.push(...page.subscribers.map((s) => s.email));
      }
      expect(seen).toHaveLength(25);
      expect(new Set(seen).size).toBe(25);
      expect(await store.countSubscribers({ status: 'active' })).toBe(25);
      expect(await store.countSubscribers()).toBe(26);

      expect(await store.markFirstSeen('2025-01-01T00:00:00.000Z')).toBe(25);
      expect(await store.markFirstSeen('2025-02-01T00:00:00.000Z')).toBe(0);
      await store.setFirstSeen('r00003@example.org', '2025-03-01T00:00:00.000Z');
      expect(await store.countSubscribers({ status: 'active', firstSeenBy: '2025-01-15T00:00:00.000Z' })).toBe(24);
      const page = await store.subscriberPage({ limit: 100, status: 'active', firstSeenBy: '2025-01-15T00:00:00.000Z' });
      expect(page.subscribers.map((s) => s.email)).not.toContain('r00003@example.org');
      expect(page.next).toBeNull();

      // A stored entry that no longer validates (e.g. edited by hand) is reported, not dropped.
      await store.db.updateTable('subscribers').set({ preferences: '{"topics": 5}' }).where('email_key', '=', 'r00001@example.org').execute();
      const all = await store.subscriberPage({ limit: 100 });
      expect(all.problems).toHaveLength(1);
      expect(all.problems[0]!.where).toContain('r00001@example.org');
      expect(all.subscribers).toHaveLength(25);
    });

    it('searches subscribers by a part of the address or the name, wildcards taken literally', async () => {
      await addReaders(store, 30);
      const put = (email: string, extra: Partial<Subscriber>) => store.mutateSubscriber(email, () => ({ result: null, put: { subscriber: reader(email, extra), change: { event: 'added', by: 'test' } } }));
      await put('Li.Ming@Example.CN', { name: '李明' });
      await put('ana_perez@example.org', { name: 'Ana Pérez' });
      await put('anaxperez@example.org', { name: 'Anax' });
      await put('kwame@example.com', { name: 'Kwame MENSAH', status: 'unsubscribed' });

      const emails = async (text: string, limit = 10) => (await store.searchSubscribers({ text, limit })).subscribers.map((s) => s.email);
      expect(await emails('li.ming')).toEqual(['Li.Ming@Example.CN']);
      expect(await emails('李明')).toEqual(['Li.Ming@Example.CN']);
      expect(await emails('mensah')).toEqual(['kwame@example.com']); // any status, name case ignored
      expect(await emails('Pérez')).toEqual(['ana_perez@example.org']);
      // "_" and "%" are characters, not LIKE wildcards.
      expect(await emails('ana_')).toEqual(['ana_perez@example.org']);
      expect(await emails('%')).toEqual([]);
      const page = await store.searchSubscribers({ text: 'r000', limit: 5 });
      expect(page.subscribers.map((s) => s.email)).toEqual(['r00000@example.org', 'r00001@example.org', 'r00002@example.org', 'r00003@example.org', 'r00004@example.org']);
      expect(page.more).toBe(true);
      expect((await store.searchSubscribers({ text: 'r0002', limit: 20 })).more).toBe(false);
      expect((await store.searchSubscribers({ text: '', limit: 3 })).subscribers).toHaveLength(3);
    });

    it('groups subscribers by identical preferences and tells when any subscriber changed', async () => {
      await addReaders(store, 12);
      const put = (email: string, extra: Partial<Subscriber>) => store.mutateSubscriber(email, () => ({ result: null, put: { subscriber: reader(email, extra), change: { event: 'added', by: 'test' } } }));
      const v0 = await store.subscribersVersion();
      expect(await store.subscribersVersion()).toBe(v0);
      await put('a@example.org', { topics: ['video'] });
      await put('b@example.org', { topics: ['video'], name: 'B' });
      await put('c@example.org', { topics: ['video'], status: 'pending' });
      await put('d@example.org', { authors: ['Ming Li'] });
      const v1 = await store.subscribersVersion();
      expect(v1).not.toBe(v0);

      const { groups, problems } = await store.preferenceGroups('active');
      expect(problems).toEqual([]);
      const counts = groups.map((g) => [g.example.topics.join(','), g.example.authors.join(','), g.count]).sort();
      expect(counts).toEqual([['', '', 12], ['', 'Ming Li', 1], ['video', '', 2]]);
      expect(groups.reduce((n, g) => n + g.count, 0)).toBe(await store.countSubscribers({ status: 'active' }));

      // A change of preferences, of status, a removal: each shows in the version.
      await put('d@example.org', { authors: ['Ming Li', 'Ana Pérez'] });
      const v2 = await store.subscribersVersion();
      expect(v2).not.toBe(v1);
      await store.mutateSubscriber('d@example.org', () => ({ result: null, remove: true }));
      expect(await store.subscribersVersion()).not.toBe(v2);

      await store.db.updateTable('subscribers').set({ preferences: '{"topics": 5}' }).where('email_key', '=', 'a@example.org').execute();
      const broken = await store.preferenceGroups('active');
      expect(broken.problems).toHaveLength(1);
      expect(broken.problems[0]!.where).toContain('a@example.org');
    });

    it('records sections, their planner lease, and the sent list', async () => {
      await store.putSection('2025-11-04', { status: 'sending', hash: 'h1', at: '2025-11-04T07:00:00.000Z', openedAt: '2025-11-04T07:00:00.000Z' });
      await store.putSection('2025-11-03', { status: 'before-start', hash: 'h0', at: '2025-11-04T07:00:00.000Z' });
      expect((await store.section('2025-11-04'))!.openedAt).toBe('2025-11-04T07:00:00.000Z');
      const now = new Date('2025-11-04T07:00:00.000Z');
      expect(await store.acquirePlanner('2025-11-04', 'a', now, 30_000)).toBe(true);
      expect(await store.acquirePlanner('2025-11-04', 'b', now, 30_000)).toBe(false);
      expect(await store.acquirePlanner('2025-11-04', 'a', now, 30_000)).toBe(true);
      expect(await store.acquirePlanner('2025-11-04', 'b', new Date(now.getTime() + 60_000), 30_000)).toBe(true);
      await store.releasePlanner('2025-11-04', 'b');
      expect(await store.acquirePlanner('2025-11-04', 'c', now, 30_000)).toBe(true);

      expect(await store.sentSections()).toEqual([]);
      await store.putSection('2025-11-04', { status: 'sent', hash: 'h1', at: '2025-11-04T08:00:00.000Z', openedAt: '2025-11-04T07:00:00.000Z' });
      expect(await store.sentSections()).toEqual([{ date: '2025-11-04', sentAt: '2025-11-04T08:00:00.000Z', hash: 'h1' }]);
      expect([...(await store.sections()).keys()]).toEqual(['2025-11-03', '2025-11-04']);
    });

    it('claims queued rows grouped by render group, oldest first within a group, expired claims before them', async () => {
      await addReaders(store, 12);
      const page = await store.subscriberPage({ limit: 100 });
      const at = '2025-11-04T07:00:00.000Z';
      const groups = ['b', 'a', 'c', 'a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c'];
      await store.insertDeliveries(page.subscribers.map((s, i) => ({ issue: 'g', sections: ['g'], emailKey: s.email, subscriberId: s.id, status: 'queued' as const, renderGroup: groups[i]!, at })));
      const now = new Date('2025-11-04T07:01:00.000Z');
      const claim = (owner: string, limit: number, when = now) => store.claimDeliveries({ issue: 'g', owner, limit, now: when, ttlMs: 60_000 });
      const first = await claim('A', 5);
      const second = await claim('B', 5);
      const byId = new Map(page.subscribers.map((s, i) => [s.email, groups[i]!]));
      const order = (batch: typeof first) => batch.map((d) => byId.get(d.emailKey));
      expect(order(first)).toEqual(['a', 'a', 'a', 'a', 'b']);
      expect(order(second)).toEqual(['b', 'b', 'b', 'c', 'c']);
      // Oldest first within a group.
      expect(first.map((d) => d.id)).toEqual([...first.slice(0, 4).map((d) => d.id)].sort((x, y) => x - y).concat(first[4]!.id));
      // A's claims expire: taken over before the rest of the queue.
      const later = await claim('C', 3, new Date(now.getTime() + 120_000));
      expect(later.map((d) => d.id).sort((x, y) => x - y)).toEqual(first.slice(0, 3).map((d) => d.id).sort((x, y) => x - y));
    });

    it('queues, claims in disjoint batches, completes, releases, expires and re-queues deliveries', async () => {
      await addReaders(store, 30);
      const page = await store.subscriberPage({ limit: 100 });
      const at = '2025-11-04T07:00:00.000Z';
      const rows = page.subscribers.map((s, i) => ({
        issue: '2025-11-04', sections: ['2025-11-04'], emailKey: s.email, subscriberId: s.id, status: i < 5 ? ('skipped-no-match' as const) : ('queued' as const), at,
      }));
      expect(await store.insertDeliveries(rows)).toBe(30);
      expect(await store.insertDeliveries(rows)).toBe(0); // idempotent

      const now = new Date('2025-11-04T07:01:00.000Z');
      const [a, b] = await Promise.all([
        store.claimDeliveries({ issue: '2025-11-04', owner: 'A', limit: 10, now, ttlMs: 60_000 }),
        store.claimDeliveries({ issue: '2025-11-04', owner: 'B', limit: 10, now, ttlMs: 60_000 }),
      ]);
      expect(a).toHaveLength(10);
      expect(b).toHaveLength(10);
      expect(new Set([...a, ...b].map((d) => d.id)).size).toBe(20);
      expect(a[0]!.subscriber?.email).toBe(a[0]!.emailKey);
      expect(a[0]!.sections).toEqual(['2025-11-04']);
      expect(a[0]!.attempts).toBe(1);

      await store.completeDeliveries(a.map((d, i) => ({ id: d.id, status: i < 8 ? 'sent' : 'failed', messageId: `<${d.id}@x>`, reason: i === 9 ? '550 no such user_1%' : i === 8 ? '421 try later' : null, permanent: i === 9, at })));
      expect(await store.releaseClaims('2025-11-04', 'B')).toBe(10);
      let counts = await store.countDeliveries('2025-11-04');
      expect(counts).toEqual({ queued: 15, claimed: 0, sent: 8, 'skipped-no-match': 5, cancelled: 0, failed: 2, deferred: 0 });

      // A dead owner's claims and expired claims go back to the queue.
      const c = await store.claimDeliveries({ issue: '2025-11-04', owner: 'host:1:dead', limit: 4, now, ttlMs: 60_000 });
      const d = await store.claimDeliveries({ issue: '2025-11-04', owner: 'host:2:alive', limit: 4, now, ttlMs: 1 });
      expect(await store.claimDeliveries({ issue: '2025-11-04', owner: 'E', limit: 100, now, ttlMs: 60_000 })).toHaveLength(7);
      expect(await store.resetStaleClaims('2025-11-04', new Date(now.getTime() + 10), (o) => o.endsWith(':dead'))).toBe(c.length + d.length + 0);
      counts = await store.countDeliveries('2025-11-04');
      expect(counts.queued).toBe(8);
      const later = await store.claimDeliveries({ issue: '2025-11-04', owner: 'F', limit: 100, now: new Date(now.getTime() + 120_000), ttlMs: 60_000 });
      expect(later).toHaveLength(15); // 8 queued + 7 of E, expired by then

      const failed = await store.listDeliveries({ section: '2025-11-04', status: 'failed' });
      expect(failed.map((f) => f.reason)).toEqual(['421 try later', '550 no such user_1%']);
      expect((await store.listDeliveries({ section: '2025-11-04', reason: '550' })).map((f) => f.permanent)).toEqual([true]);
      // LIKE's wildcards typed by the operator are literal text on both engines.
      expect(await store.listDeliveries({ section: '2025-11-04', reason: '5_0' })).toEqual([]);
      expect(await store.listDeliveries({ section: '2025-11-04', reason: 'r%' })).toEqual([]);
      expect((await store.listDeliveries({ section: '2025-11-04', reason: 'user_1%' })).map((f) => f.permanent)).toEqual([true]);
      expect(await store.listDeliveries({ section: '2025-11-05' })).toEqual([]);
      expect(await store.listDeliveries({ section: '2025-11-04' }, { limit: 7 })).toHaveLength(7);
      expect(await store.requeueDeliveries({ section: '2025-11-04' }, at)).toBe(1);
      expect(await store.requeueDeliveries({ section: '2025-11-04', reason: '550', includePermanent: true }, at)).toBe(1);
      expect((await store.countDeliveries('2025-11-04')).queued).toBe(2);

      const map = await store.deliveriesFor('2025-11-04', [a[0]!.emailKey, 'nobody@example.org']);
      expect([...map.keys()]).toEqual([a[0]!.emailKey]);
      expect(map.get(a[0]!.emailKey)).toMatchObject({ status: 'sent', messageId: `<${a[0]!.id}@x>`, claimedBy: null });
    });

    it('counts outcomes, SES bounces and complaints per section, and subscriber growth per day', async () => {
      await addReaders(store, 6);
      const ids = new Map((await store.subscriberPage({ limit: 10 })).subscribers.map((s) => [s.email, s.id]));
      const r = (i: number) => `r0000${i}@example.org`;
      const row = (i: number, issue: string, sections: string[], status: 'sent' | 'failed' | 'skipped-no-match' | 'queued' | 'deferred', at: string, permanent = false) =>
        ({ issue, sections, emailKey: r(i), subscriberId: ids.get(r(i))!, status, permanent, at });
      const T1 = '2025-11-04T07:00:00.000Z';
      const T2 = '2025-11-05T07:00:00.000Z';
      await store.insertDeliveries([
        row(0, '2025-11-04', ['2025-11-04'], 'sent', T1),
        row(1, '2025-11-04', ['2025-11-04'], 'sent', T1),
        row(2, '2025-11-04', ['2025-11-04'], 'failed', T1, true),
        row(3, '2025-11-04', ['2025-11-04'], 'skipped-no-match', T1),
        row(4, '2025-11-04', ['2025-11-04'], 'queued', T1),
        row(0, '2025-11-05', ['2025-11-05'], 'sent', T2),
        row(1, '2025-11-05', ['2025-11-05'], 'failed', T2),
        row(5, '2025-11-03', ['2025-11-03'], 'deferred', '2025-11-03T07:00:00.000Z'),
        row(5, 'weekly:2025-11-09', ['2025-11-03', '2025-11-04'], 'sent', '2025-11-09T07:00:00.000Z'),
      ]);
      const ses = (event: 'suppressed' | 'bounced-transient' | 'complained', at: string) => ({ event, at, by: 'ses-webhook' });
      // Each report goes to the latest email sent to the reader before it.
      await store.appendConsentEvents(r(0), [
        { event: 'subscribed', at: '2025-10-01T10:00:00.000Z', by: 'web' },
        { event: 'confirmed', at: '2025-10-01T11:00:00.000Z', by: 'web' },
        ses('suppressed', '2025-11-04T12:00:00.000Z'), // -> 11-04 (before the 11-05 email)
        ses('complained', '2025-11-05T09:00:00.000Z'), // -> 11-05
      ]);
      await store.appendConsentEvents(r(1), [
        { event: 'subscribed', at: '2025-10-01T12:00:00.000Z', by: 'web' },
        { event: 'confirmed', at: '2025-10-02T08:00:00.000Z', by: 'web' },
        ses('bounced-transient', '2025-11-05T08:00:00.000Z'), // -> 11-04: the 11-05 email failed
      ]);
      await store.appendConsentEvents(r(3), [{ event: 'unsubscribed', at: '2025-11-06T10:00:00.000Z', by: 'one-click' }]);
      await store.appendConsentEvents(r(4), [ses('bounced-transient', '2025-11-01T08:00:00.000Z')]); // before any email: nowhere
      await store.appendConsentEvents(r(5), [ses('complained', '2025-11-10T08:00:00.000Z')]); // -> both sections of the roll-up

      const zero = { sent: 0, failed: 0, rejected: 0, skipped: 0, cancelled: 0, deferred: 0, pending: 0, bounces: { permanent: 0, transient: 0 }, complaints: 0 };
      expect(await store.sectionStats()).toEqual([
        { ...zero, date: '2025-11-03', sent: 1, deferred: 1, complaints: 1 },
        { ...zero, date: '2025-11-04', sent: 3, failed: 1, rejected: 1, skipped: 1, pending: 1, bounces: { permanent: 1, transient: 1 }, complaints: 1 },
        { ...zero, date: '2025-11-05', sent: 1, failed: 1, complaints: 1 },
      ]);
      expect(await store.sectionStats(['2025-11-05', '2025-12-01'])).toEqual([{ ...zero, date: '2025-11-05', sent: 1, failed: 1, complaints: 1 }]);
      expect(await store.sectionStats([])).toEqual([]);

      const growth = await store.subscriberGrowth('2025-10-01');
      expect(growth.slice(0, 5)).toEqual([
        { day: '2025-10-01', new: 2, imported: 0, confirmed: 1, unsubscribed: 0 },
        { day: '2025-10-02', new: 0, imported: 0, confirmed: 1, unsubscribed: 0 },
        { day: '2025-11-05', new: 0, imported: 0, confirmed: 0, unsubscribed: 1 },
        { day: '2025-11-06', new: 0, imported: 0, confirmed: 0, unsubscribed: 1 },
        { day: '2025-11-10', new: 0, imported: 0, confirmed: 0, unsubscribed: 1 },
      ]);
      // The import itself, today.
      expect(growth.slice(5).reduce((n, d) => n + d.imported, 0)).toBe(6);
      expect((await store.subscriberGrowth('2025-11-06'))[0]!.day).toBe('2025-11-06');
    });

    it('links an issue to every section it covers', async () => {
      await store.insertDeliveries([{ issue: 'weekly:2025-W45', sections: ['2025-11-03', '2025-11-04'], emailKey: 'w@example.org', subscriberId: null, status: 'sent', at: '2025-11-09T07:00:00.000Z' }]);
      expect((await store.listDeliveries({ section: '2025-11-03' })).map((d) => d.issue)).toEqual(['weekly:2025-W45']);
      expect((await store.listDeliveries({ issue: 'weekly:2025-W45' }))[0]!.sections).toEqual(['2025-11-03', '2025-11-04']);
    });

    it('keeps the papers a delivery carried, and finds a reader\'s rows and the readers owed a roll-up by section', async () => {
      const at = '2025-11-05T07:00:00.000Z';
      await store.insertDeliveries([
        { issue: '2025-11-03', sections: ['2025-11-03'], emailKey: 'd@example.org', subscriberId: null, status: 'queued', at },
        { issue: '2025-11-04', sections: ['2025-11-04'], emailKey: 'd@example.org', subscriberId: null, status: 'deferred', at },
        { issue: '2025-11-04', sections: ['2025-11-04'], emailKey: 'x@example.org', subscriberId: null, status: 'sent', at },
        { issue: 'weekly:2025-11-10', sections: ['2025-11-04', '2025-11-05'], emailKey: 'd@example.org', subscriberId: null, status: 'queued', papers: ['2511.2', '2511.1'], at },
        { issue: '2025-10-20', sections: ['2025-10-20'], emailKey: 'd@example.org', subscriberId: null, status: 'deferred', at },
      ]);
      const [daily] = await store.claimDeliveries({ issue: '2025-11-03', owner: 'A', limit: 1, now: new Date(at), ttlMs: 60_000 });
      expect(daily!.papers).toBeNull();
      await store.completeDeliveries([{ id: daily!.id, status: 'sent', messageId: '<m@x>', papers: ['2511.0'], at }]);
      const [rollup] = await store.claimDeliveries({ issue: 'weekly:2025-11-10', owner: 'A', limit: 1, now: new Date(at), ttlMs: 60_000 });
      expect(rollup!.papers).toEqual(['2511.2', '2511.1']); // in the planned order
      const history = await store.readerDeliveries(['d@example.org', 'nobody@example.org'], ['2025-11-03', '2025-11-04', '2025-11-05']);
      expect([...history.keys()]).toEqual(['d@example.org']);
      expect(history.get('d@example.org')!.map((r) => [r.issue, r.status, r.papers])).toEqual([
        ['2025-11-03', 'sent', ['2511.0']],
        ['2025-11-04', 'deferred', null],
        ['weekly:2025-11-10', 'claimed', ['2511.2', '2511.1']],
      ]);
      expect([...(await store.deferredReaders(['2025-11-03', '2025-11-04']))]).toEqual(['d@example.org']);
      expect((await store.deferredReaders(['2025-11-05'])).size).toBe(0);
      expect((await store.countDeliveries('2025-11-04')).deferred).toBe(1);
    });

    it('records runs for the catch-up and keeps counters and seen ids across calls', async () => {
      expect(await store.lastRunAt()).toBeNull();
      const id = await store.startRun('2025-11-04T07:00:00.000Z', 'run');
      expect(await store.lastRunAt()).toBeNull(); // not finished
      await store.finishRun(id, '2025-11-04T07:05:00.000Z');
      await store.finishRun(await store.startRun('2025-11-03T07:00:00.000Z', 'run'), '2025-11-03T07:01:00.000Z');
      expect(await store.lastRunAt()).toBe('2025-11-04T07:00:00.000Z');

      const w = '2025-11-04T07:00:00.000Z';
      const exp = '2025-11-04T08:00:00.000Z';
      expect(await store.incrementCounter('confirmations', 'a@example.org', w, exp)).toBe(1);
      expect(await store.incrementCounter('confirmations', 'a@example.org', w, exp)).toBe(2);
      expect(await store.counterValue('confirmations', 'a@example.org', w)).toBe(2);
      expect(await store.counterValue('confirmations', 'b@example.org', w)).toBe(0);
      expect(await store.markSeen('sns', 'm-1', w, exp)).toBe(true);
      expect(await store.markSeen('sns', 'm-1', w, exp)).toBe(false);
      await store.pruneExpired('2025-11-04T09:00:00.000Z');
      expect(await store.counterValue('confirmations', 'a@example.org', w)).toBe(0);
      expect(await store.markSeen('sns', 'm-1', w, exp)).toBe(true);
      await store.forgetSeen('sns', 'm-1');
      expect(await store.markSeen('sns', 'm-1', w, exp)).toBe(true);
      expect(await store.markSeen('other', 'm-1', w, exp)).toBe(true);
    });

    it.runIf(engine.name === 'sqlite')('keeps the database file and its WAL private (0600)', async () => {
      await addReaders(store, 3);
      for (const suffix of ['', '-wal', '-shm']) {
        const mode = (await stat(`${store.location}${suffix}`)).mode & 0o777;
        expect(mode.toString(8), `${store.location}${suffix}`).toBe('600');
      }
    });
    it('renews a live sender\'s claims so they do not expire, and leaves other owners\' alone', async () => {
      await addReaders(store, 6);
      const page = await store.subscriberPage({ limit: 100 });
      const at = '2025-11-04T07:00:00.000Z';
      await store.insertDeliveries(page.subscribers.map((s) => ({ issue: 'i', sections: ['2025-11-04'], emailKey: s.email, subscriberId: s.id, status: 'queued' as const, at })));
      const t0 = new Date('2025-11-04T07:01:00.000Z');
      const mine = await store.claimDeliveries({ issue: 'i', owner: 'live', limit: 3, now: t0, ttlMs: 10_000 });
      const theirs = await store.claimDeliveries({ issue: 'i', owner: 'stuck', limit: 3, now: t0, ttlMs: 10_000 });
      expect(mine).toHaveLength(3);
      expect(theirs).toHaveLength(3);
      expect(await store.renewClaims('i', 'live', new Date(t0.getTime() + 8_000), 10_000)).toBe(3);
      // 15 s later the stuck owner's lease has run out; the renewed one has not.
      const taken = await store.claimDeliveries({ issue: 'i', owner: 'other', limit: 10, now: new Date(t0.getTime() + 15_000), ttlMs: 10_000 });
      expect(taken.map((d) => d.id).sort()).toEqual(theirs.map((d) => d.id).sort());
      expect(taken.every((d) => d.attempts === 2)).toBe(true);
      expect(await store.renewClaims('i', 'stuck', t0, 10_000)).toBe(0);
    });

    it('tells senders who holds the planner lease of a section, and until when', async () => {
      await store.putSection('2025-11-04', { status: 'sending', hash: 'h', at: '2025-11-04T07:00:00.000Z' });
      expect(await store.plannerOf('2025-11-04')).toBeNull();
      const now = new Date('2025-11-04T07:00:00.000Z');
      expect(await store.acquirePlanner('2025-11-04', 'host:1:a', now, 30_000)).toBe(true);
      expect(await store.plannerOf('2025-11-04')).toEqual({ owner: 'host:1:a', expiresAt: '2025-11-04T07:00:30.000Z' });
      await store.releasePlanner('2025-11-04', 'host:1:a');
      expect(await store.plannerOf('2025-11-04')).toBeNull();
      expect(await store.plannerOf('2025-11-05')).toBeNull();
    });

    it('opens a section once for workers that start it together, keeping its first opening and what first went out', async () => {
      const opened = await Promise.all(['2025-11-04T07:00:00.001Z', '2025-11-04T07:00:00.002Z', '2025-11-04T07:00:00.003Z'].map((at, i) => store.openSection('2025-11-04', `h${i}`, at)));
      const stored = (await store.section('2025-11-04'))!;
      expect(stored.status).toBe('sending');
      // Whoever came first set the opening time and hash; every worker was told the same.
      expect(new Set(opened.map((o) => o.openedAt))).toEqual(new Set([stored.openedAt]));
      expect(new Set(opened.map((o) => o.hash))).toEqual(new Set([stored.hash]));
      // Sent: a worker that comes late finds it sent; reopened (run --section) with other text,
      // the hash of what went out stays.
      await store.putSection('2025-11-04', { ...stored, status: 'sent', at: '2025-11-04T08:00:00.000Z' });
      expect(await store.openSection('2025-11-04', 'edited', '2025-11-05T07:00:00.000Z')).toMatchObject({ status: 'sent', hash: stored.hash });
      expect(await store.openSection('2025-11-04', 'edited', '2025-11-05T07:00:00.000Z', true)).toMatchObject({ status: 'sending', hash: stored.hash, openedAt: stored.openedAt });
      // A before-start section sent later (--backfill) opens now, with its current text.
      await store.putSection('2025-11-01', { status: 'before-start', hash: 'old', at: '2025-11-04T07:00:00.000Z' });
      expect(await store.openSection('2025-11-01', 'now', '2025-11-06T07:00:00.000Z')).toMatchObject({ hash: 'now', openedAt: '2025-11-06T07:00:00.000Z' });
    });

    it('gives the planner lease to one of several workers asking at once, and to another when its holder is dead', async () => {
      await store.putSection('2025-11-04', { status: 'sending', hash: 'h', at: '2025-11-04T07:00:00.000Z' });
      const now = new Date('2025-11-04T07:00:00.000Z');
      const owners = Array.from({ length: 6 }, (_, i) => `host:${i + 1}:w`);
      const got = await Promise.all(owners.map((o) => store.acquirePlanner('2025-11-04', o, now, 60_000)));
      expect(got.filter(Boolean)).toHaveLength(1);
      const holder = owners[got.indexOf(true)]!;
      expect(await store.acquirePlanner('2025-11-04', 'host:9:w', now, 60_000, () => false)).toBe(false);
      // Its process is gone (SIGKILL): taken over at once, without waiting for the lease.
      expect(await store.acquirePlanner('2025-11-04', 'host:9:w', now, 60_000, (o) => o === holder)).toBe(true);
      expect((await store.plannerOf('2025-11-04'))!.owner).toBe('host:9:w');
    });

    it('counts the deliveries of an issue still without a final outcome', async () => {
      const at = '2025-11-04T07:00:00.000Z';
      const row = (n: number, status: 'queued' | 'sent' | 'failed' | 'skipped-no-match' | 'cancelled', permanent = false) => ({ issue: 'i', sections: ['2025-11-04'], emailKey: `u${n}@example.org`, subscriberId: null, status, permanent, at });
      await store.insertDeliveries([row(1, 'queued'), row(2, 'queued'), row(3, 'sent'), row(4, 'failed'), row(5, 'failed', true), row(6, 'skipped-no-match'), row(7, 'cancelled')]);
      await store.claimDeliveries({ issue: 'i', owner: 'A', limit: 1, now: new Date(at), ttlMs: 60_000 });
      // One queued, one claimed, one transient failure; the rest are final.
      expect(await store.unfinishedDeliveries('i')).toBe(3);
      expect(await store.unfinishedDeliveries('other')).toBe(0);
    });

    it('hands out send slots from a shared bucket that never overlap, however many callers race', async () => {
      const interval = 5;
      const results = await Promise.all(Array.from({ length: 24 }, () => store.reserveSendSlots('send', 4, interval)));
      const starts = results.map((r) => r.startAt).sort((a, b) => a - b);
      for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(4 * interval - 1e-6);
      // The 24 blocks were reserved back to back, so the last one starts about 23 blocks out.
      const last = results.find((r) => r.startAt === starts.at(-1))!;
      expect(last.waitMs).toBeGreaterThan(0);
      expect(starts.at(-1)! - starts[0]!).toBeGreaterThanOrEqual(23 * 4 * interval - 1e-6);
      // Another bucket is independent; an idle bucket restarts at "now" (no saved-up burst).
      expect((await store.reserveSendSlots('other', 1, 1000)).waitMs).toBe(0);
      await new Promise((r) => setTimeout(r, 30 + 24 * 4 * interval));
      const again = await store.reserveSendSlots('send', 1, interval);
      expect(again.waitMs).toBe(0);
      expect(again.startAt).toBeGreaterThan(starts.at(-1)!);
    });
  });
});
