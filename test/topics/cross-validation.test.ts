import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLabelledFile } from '../../src/topics/corpus.js';
import { crossValidate, type CrossValidation } from '../../src/topics/evaluate.js';
import { ROOT, seedTaxonomy } from '../helpers.js';
import { scaled } from '../timeouts.js';

/**
 * Held-out quality on the labelled corpus: seeded, fixed 5-fold cross-validation, the learned
 * weights of each fold trained on the other four folds only (same figures as `npm run bench`).
 */
const corpus = parseLabelledFile(JSON.parse(readFileSync(join(ROOT, 'test/fixtures/corpus-topics.json'), 'utf8')), 'corpus-topics.json');
let cv: CrossValidation | undefined;
const run = () => (cv ??= crossValidate(corpus, seedTaxonomy(), { folds: 5, seed: 15 }));

describe('topic tagger, 5-fold cross-validation on the held-out corpus', { timeout: scaled(240_000) }, () => {
  it('has at least 300 real papers with provenance and 15 required examples per topic', () => {
    expect(corpus.papers.length).toBeGreaterThanOrEqual(300);
    const raw = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/corpus-topics.json'), 'utf8'));
    for (const p of raw.papers) expect(p.source, p.id).toMatchObject({ repo: expect.stringMatching(/\//), path: expect.any(String), commit: expect.stringMatching(/^[0-9a-f]{40}$/) });
    for (const topic of seedTaxonomy().topics) {
      expect(Object.values(corpus.labels).filter((l) => l.includes(topic.id)).length, topic.id).toBeGreaterThanOrEqual(15);
    }
  });

  it('is repeatable: the same seed gives the same figures', () => {
    const again = crossValidate(corpus, seedTaxonomy(), { folds: 5, seed: 15 });
    expect(again.learned).toEqual(run().learned);
  });

  it('beats the term lists alone, so the learned part earns its place', () => {
    const { learned, termsOnly } = run();
    const f1 = (e: { precision: number; recall: number }) => (2 * e.precision * e.recall) / (e.precision + e.recall);
    expect(f1(learned)).toBeGreaterThan(f1(termsOnly));
  });

  // Floors just under the measured held-out figures (precision 0.940, recall 0.942): a
  // regression guard on the totals; the goals are the next test.
  it('holds the measured held-out floor', () => {
    const { learned } = run();
    expect(learned.precision).toBeGreaterThanOrEqual(0.935);
    expect(learned.recall).toBeGreaterThanOrEqual(0.935);
  });

  // The goals, as measured (README, "Topics"). The margins are thin for agents-tools
  // (14 of 17, 0.824) and data (37 of 45, 0.822): one paper each above 0.80.
  it('meets the goals: precision and recall >= 0.90, every topic >= 0.80, no paper with a required topic untagged', () => {
    const { learned } = run();
    expect(learned.precision).toBeGreaterThanOrEqual(0.9);
    expect(learned.recall).toBeGreaterThanOrEqual(0.9);
    expect(Object.keys(learned.perTopic).sort()).toEqual(seedTaxonomy().topics.map((t) => t.id).sort());
    for (const [id, t] of Object.entries(learned.perTopic)) {
      expect(t.precision, id).toBeGreaterThanOrEqual(0.8);
      expect(t.recall, id).toBeGreaterThanOrEqual(0.8);
    }
    expect(learned.centralUntagged).toEqual([]);
  });
});
