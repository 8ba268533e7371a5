/** Precision and recall of the topic tagger on the hand-labelled seed papers (test/fixtures/seed-topics.json). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDigest } from '../src/digest/parse.js';
import { classifyPaper, compileTaxonomy } from '../src/topics/classify.js';
import { parseTaxonomy } from '../src/topics/load.js';

const root = process.cwd();
const gold: Record<string, string[]> = JSON.parse(readFileSync(join(root, 'test/fixtures/seed-topics.json'), 'utf8')).labels;
const taxonomy = compileTaxonomy(parseTaxonomy(JSON.parse(readFileSync(join(root, 'topics.json'), 'utf8')), 'topics.json'));
const papers = parseDigest(readFileSync(join(root, 'digests/2025-11.md'), 'utf8'), 'digests/2025-11.md').sections.flatMap((s) => s.papers);
let tp = 0;
let fp = 0;
let fn = 0;
for (const paper of papers) {
  const expected = new Set(gold[paper.id]);
  const got = new Set(classifyPaper(paper, taxonomy).topics);
  for (const t of got) expected.has(t) ? tp++ : fp++;
  for (const t of expected) if (!got.has(t)) fn++;
}
console.log(`tagger on ${papers.length} hand-labelled seed papers: precision ${(tp / (tp + fp)).toFixed(3)}, recall ${(tp / (tp + fn)).toFixed(3)} (${tp} right, ${fp} extra, ${fn} missed)`);
