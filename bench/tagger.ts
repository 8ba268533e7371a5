/** Precision and recall of the topic tagger on the hand-labelled seed papers (test/fixtures/seed-topics.json). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDigest } from '../src/digest/parse.js';
import { compileTaxonomy } from '../src/topics/classify.js';
import { scoreTagger } from '../src/topics/evaluate.js';
import { parseTaxonomy } from '../src/topics/load.js';

const root = process.cwd();
const gold: Record<string, string[]> = JSON.parse(readFileSync(join(root, 'test/fixtures/seed-topics.json'), 'utf8')).labels;
const taxonomy = compileTaxonomy(parseTaxonomy(JSON.parse(readFileSync(join(root, 'topics.json'), 'utf8')), 'topics.json'));
const papers = parseDigest(readFileSync(join(root, 'digests/2025-11.md'), 'utf8'), 'digests/2025-11.md').sections.flatMap((s) => s.papers);
const score = scoreTagger(papers, gold, taxonomy);
console.log(
  `tagger on ${papers.length} hand-labelled seed papers: precision ${score.precision.toFixed(3)}, recall ${score.recall.toFixed(3)} (${score.right} right, ${score.extra} extra, ${score.missed} missed)`,
);
