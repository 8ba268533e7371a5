import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { matcherFor, preferenceKey, type SelectedPaper } from '../../src/audience/select.js';
import { loadConfig } from '../../src/config/load.js';
import { Dispatcher, RateLimiter, systemClock } from '../../src/mail/flow.js';
import type { OutgoingMessage } from '../../src/mail/transport.js';
import { variantKey } from '../../src/render/render.js';
import { loadInputs, renderSettings } from '../../src/run/context.js';
import { deliverSection } from '../../src/run/deliver.js';
import { newOwnerId } from '../../src/run/owner.js';
import { openStore } from '../../src/store/open.js';
import { classifyPaper } from '../../src/topics/classify.js';
import { generateSubscribers } from '../../bench/population.js';
import { ROOT, bareLineFeeds } from '../helpers.js';
import { scaled } from '../timeouts.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('a run renders once per paper set', () => {
  it('sends a generated list with as many renders as distinct paper sets, claimed group by group', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-render-count-'));
    dirs.push(dir);
    const seed = await readFile(join(ROOT, 'digests/2025-11.md'), 'utf8');
    await mkdir(join(dir, 'digests'));
    // The largest section (18 papers) as the newest.
    await writeFile(join(dir, 'digests/2025-11.md'), seed.slice(0, seed.indexOf('\n## 2025-11-13')));
    const file = JSON.parse(await readFile(join(ROOT, 'digest-mailer.config.json'), 'utf8'));
    file.paths = { ...file.paths, digests: 'digests', topics: join(ROOT, 'topics.json'), templates: join(ROOT, 'templates'), state: 'state', outbox: 'outbox' };
    await writeFile(join(dir, 'config.json'), JSON.stringify(file));
    const config = await loadConfig(join(dir, 'config.json'));
    const inputs = await loadInputs(config);
    const section = inputs.sections.find((s) => s.date === '2025-11-12')!;

    const subscribers = generateSubscribers(600, { topicIds: inputs.taxonomy.topics.map((t) => t.id), sections: [section] }, 3);
    const store = await openStore(config);
    try {
      await store.importSubscribers(subscribers.map((subscriber) => ({ subscriber, history: [] })), 'test');
      const runAt = new Date();
      await store.markFirstSeen(new Date(runAt.getTime() - 1000).toISOString());

      // Distinct paper sets, counted apart from the run.
      const papers = section.papers.map((p) => classifyPaper(p, inputs.compiledTaxonomy));
      const byPrefs = new Map<string, SelectedPaper[]>();
      const paperSets = new Set<string>();
      let recipients = 0;
      for (const s of subscribers) {
        const key = preferenceKey(s);
        if (!byPrefs.has(key)) byPrefs.set(key, matcherFor(s).select(papers));
        const selected = byPrefs.get(key)!;
        if (!selected.length) continue;
        recipients++;
        paperSets.add(variantKey(selected, s.format));
      }

      const sent: OutgoingMessage[] = [];
      const transport = {
        name: 'memory',
        async send(message: OutgoingMessage) {
          sent.push(message);
          return { ok: true as const };
        },
        async close() {},
      };
      const result = await deliverSection(section, {
        config,
        templates: inputs.templates,
        taxonomy: inputs.compiledTaxonomy,
        renderSettings: renderSettings(config, inputs.taxonomy),
        links: { baseUrl: 'https://digest.example.org', secret: 'render-count-secret-render-count-secret', ttlDays: 30 },
        store,
        owner: newOwnerId(),
        topicIds: new Set(inputs.taxonomy.topics.map((t) => t.id)),
        dispatcher: new Dispatcher(transport, new RateLimiter(1e6, systemClock), { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 }),
        runAt,
        concurrency: 8,
      });

      expect(result.counts.sent).toBe(recipients);
      expect(new Set(sent.map((m) => m.recipient)).size).toBe(recipients);
      expect(paperSets.size).toBeGreaterThan(50);
      expect(result.variants).toBe(paperSets.size);
      // Equal only because readers are claimed grouped by paper set: in list order, the
      // variant cache (VARIANT_CACHE_BYTES) would have evicted and rendered again.
      expect(result.renders).toBe(paperSets.size);
      expect(sent.every((m) => bareLineFeeds(m.raw) === 0)).toBe(true);
    } finally {
      await store.close();
    }
  }, scaled(300_000));
});
