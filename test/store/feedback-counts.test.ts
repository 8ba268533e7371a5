import { describe, expect, it } from 'vitest';
import { ENGINES, freshStoreEach } from './engines.js';

const available = Object.fromEntries(await Promise.all(ENGINES.map(async (e) => [e.name, await e.available()] as const)));

/** The aggregate "more / less like this" counts (migration 006), the same on both engines. */
describe.each(ENGINES)('feedback counts on $name', (engine) => {
  describe.skipIf(!available[engine.name])('', () => {
    const opened = freshStoreEach(engine);

    it('adds each applied feedback to its paper and topics, per section, most clicks first, and names nobody', async () => {
      const { store } = opened;
      expect(await store.feedbackCounts()).toEqual({ papers: [], topics: [] });
      await store.recordFeedback({ section: '2025-11-12', paper: '2511.00001', want: 'more', topics: ['video', 'reasoning'] });
      await store.recordFeedback({ section: '2025-11-12', paper: '2511.00001', want: 'more', topics: ['video', 'video'] });
      await store.recordFeedback({ section: '2025-11-12', paper: '2511.00002', want: 'less', topics: ['video'] });
      await store.recordFeedback({ section: '2025-11-13', paper: '2511.00009', want: 'less', topics: [] });
      const all = await store.feedbackCounts();
      expect(all.papers).toEqual([
        { section: '2025-11-13', paper: '2511.00009', more: 0, less: 1 },
        { section: '2025-11-12', paper: '2511.00001', more: 2, less: 0 },
        { section: '2025-11-12', paper: '2511.00002', more: 0, less: 1 },
      ]);
      // A topic named twice in one feedback counts once.
      expect(all.topics).toEqual([
        { section: '2025-11-12', topic: 'video', more: 2, less: 1 },
        { section: '2025-11-12', topic: 'reasoning', more: 1, less: 0 },
      ]);
      const one = await store.feedbackCounts({ section: '2025-11-13' });
      expect(one).toEqual({ papers: [{ section: '2025-11-13', paper: '2511.00009', more: 0, less: 1 }], topics: [] });
    });

    it('keeps every click when many readers give feedback at once', async () => {
      const { store } = opened;
      await Promise.all(Array.from({ length: 40 }, (_, i) => store.recordFeedback({ section: '2025-11-12', paper: 'p1', want: i % 4 === 0 ? 'less' : 'more', topics: ['video'] })));
      const counts = await store.feedbackCounts({ section: '2025-11-12' });
      expect(counts.papers).toEqual([{ section: '2025-11-12', paper: 'p1', more: 30, less: 10 }]);
      expect(counts.topics).toEqual([{ section: '2025-11-12', topic: 'video', more: 30, less: 10 }]);
    });

    it('finds a subscriber by store id (the feedback token names it so)', async () => {
      const { store } = opened;
      await store.importSubscribers([{ subscriber: { email: 'Ana@Example.org', status: 'active', topics: ['video'], excludeTopics: [], authors: [], keywords: [] }, history: [] }], 'test');
      const ana = await store.getSubscriber('ana@example.org');
      expect(ana).toBeDefined();
      expect((await store.getSubscriberById(ana!.id))?.email).toBe('Ana@Example.org');
      expect(await store.getSubscriberById(ana!.id + 1000)).toBeUndefined();
      expect(await store.getSubscriberById(0)).toBeUndefined();
    });
  });
});
