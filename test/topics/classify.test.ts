import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Paper } from '../../src/digest/types.js';
import { classifyPaper, compileTaxonomy, termPattern } from '../../src/topics/classify.js';
import { parseTaxonomy } from '../../src/topics/load.js';
import { scoreTagger } from '../../src/topics/evaluate.js';
import { ROOT, seedSections, seedTaxonomy } from '../helpers.js';

const gold: Record<string, string[]> = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/seed-topics.json'), 'utf8')).labels;

function paper(fields: Partial<Record<'title' | 'motivation' | 'method' | 'abstract', string>>): Paper {
  const rt = (t: string | undefined) => (t === undefined ? null : { text: t, html: t });
  return {
    id: 'x',
    title: { text: fields.title ?? 'Untitled', html: fields.title ?? 'Untitled' },
    authors: [],
    link: null,
    motivation: rt(fields.motivation),
    method: rt(fields.method),
    abstract: rt(fields.abstract),
    extra: {},
    source: 't:1',
  };
}

describe('topic tagger', () => {
  const taxonomy = seedTaxonomy();
  const compiled = compileTaxonomy(taxonomy);

  it('has the 12 required topics, each with a label, description and terms', () => {
    expect(taxonomy.topics.map((t) => t.id)).toEqual([
      'reasoning', 'rl', 'video', 'spatial-3d', 'agents-tools', 'retrieval-embeddings',
      'benchmarks', 'efficiency', 'trust-safety', 'generation-editing', 'multilingual', 'data',
    ]);
  });

  it('reaches precision and recall of at least 0.85 on the hand-labelled seed papers', () => {
    const papers = seedSections().flatMap((s) => s.papers);
    expect(papers).toHaveLength(42);
    expect(Object.keys(gold)).toHaveLength(42);
    const { precision, recall } = scoreTagger(papers, gold, compiled);
    expect(precision).toBeGreaterThanOrEqual(0.85);
    expect(recall).toBeGreaterThanOrEqual(0.85);
  });

  it('records the terms that matched and where', () => {
    const c = classifyPaper(paper({ title: 'Efficient Keyframe Selection for Long Video Understanding', abstract: 'We prune tokens.' }), compiled);
    const video = c.matches.find((m) => m.id === 'video')!;
    expect(video.terms).toContainEqual({ term: 'video', field: 'title' });
    expect(c.topics).toContain('efficiency');
  });

  it('weights a title word above the same word deep in the abstract', () => {
    const inTitle = classifyPaper(paper({ title: 'Hallucination in the wild' }), compiled);
    const inAbstract = classifyPaper(paper({ title: 'A study', abstract: 'We also mention hallucination once.' }), compiled);
    expect(inTitle.topics).toContain('trust-safety');
    expect(inAbstract.topics).not.toContain('trust-safety');
  });

  it('tags unseen papers by their content, and leaves an off-topic one untagged', () => {
    const cases: [Partial<Record<'title' | 'motivation' | 'method' | 'abstract', string>>, string[]][] = [
      [{ title: 'GRPO for Visual Math Reasoning', method: 'We post-train with reinforcement learning and verifiable rewards.' }, ['rl', 'reasoning']],
      [{ title: 'A Multilingual Benchmark for Document VQA in 20 Languages', abstract: 'We evaluate low-resource languages.' }, ['multilingual', 'benchmarks']],
      [{ title: 'Jailbreaking Vision-Language Models with Typography', motivation: 'Safety alignment fails on images with text.' }, ['trust-safety']],
      [{ title: 'Pruning Visual Tokens for Faster Inference', method: 'Token compression keeps 10% of tokens.' }, ['efficiency']],
      [{ title: 'A GUI Agent that Uses Tools on the Web', method: 'The agent plans and calls tools.' }, ['agents-tools']],
      [{ title: 'Text-to-Video Diffusion with Physics Priors', abstract: 'Video generation that respects physics.' }, ['generation-editing', 'video']],
    ];
    for (const [fields, expected] of cases) {
      const got = classifyPaper(paper(fields), compiled).topics;
      for (const id of expected) expect(got, fields.title).toContain(id);
    }
    expect(classifyPaper(paper({ title: 'On the Origin of Species', abstract: 'Finches.' }), compiled).topics).toEqual([]);
  });

  it('matches acronyms only as written, plurals and prefixes on request', () => {
    expect(termPattern('CLIP').test('a CLIP encoder')).toBe(true);
    expect(termPattern('CLIP').test('a video clip')).toBe(false);
    expect(termPattern('benchmark').test('three benchmarks')).toBe(true);
    expect(termPattern('hallucinat*').test('Hallucinating objects')).toBe(true);
    expect(termPattern('tool use').test('tool-use behaviour')).toBe(true);
    expect(termPattern('RL').test('world')).toBe(false);
  });

  it('rejects a taxonomy with a duplicate id, naming the key', () => {
    const bad = { topics: [{ id: 'a', label: 'A', description: 'a', terms: ['x'] }, { id: 'a', label: 'B', description: 'b', terms: ['y'] }] };
    expect(() => parseTaxonomy(bad, 'topics.json')).toThrow(/topics\.1\.id "a" is used twice/);
    expect(() => parseTaxonomy({ topics: [{ id: 'A B', label: '', terms: [] }] }, 'topics.json')).toThrow(/topics\.0\.id/);
  });
});
