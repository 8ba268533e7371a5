/**
 * Topic tagger quality: seeded, fixed 5-fold cross-validation on the held-out corpus
 * (test/fixtures/corpus-topics.json; the learned weights of each fold are trained on the other
 * four folds only), then the shipped tagger on the hand-labelled seed digest.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDigest } from '../src/digest/parse.js';
import { compileTaxonomy } from '../src/topics/classify.js';
import { parseLabelledFile } from '../src/topics/corpus.js';
import { crossValidate, evaluateTagger, type Evaluation } from '../src/topics/evaluate.js';
import { loadTaxonomySync } from '../src/topics/load.js';

const root = process.cwd();
const json = (file: string) => JSON.parse(readFileSync(join(root, file), 'utf8'));
const taxonomy = loadTaxonomySync(join(root, 'topics.json'));
const corpus = parseLabelledFile(json('test/fixtures/corpus-topics.json'), 'test/fixtures/corpus-topics.json');
const seedPapers = parseDigest(readFileSync(join(root, 'digests/2025-11.md'), 'utf8'), 'digests/2025-11.md').sections.flatMap((s) => s.papers);
const seed = parseLabelledFile(json('test/fixtures/seed-topics.json'), 'test/fixtures/seed-topics.json', seedPapers);

function report(name: string, e: Evaluation, perTopic: boolean): void {
  console.log(
    `${name}: precision ${e.precision.toFixed(3)}, recall ${e.recall.toFixed(3)} (${e.right} right, ${e.extra} extra, ${e.missed} missed); ` +
      `${e.untagged.length} of ${e.papers} papers with no topic, ${e.centralUntagged.length} of them with a required topic`,
  );
  if (!perTopic) return;
  for (const [id, t] of Object.entries(e.perTopic)) {
    console.log(`  ${id.padEnd(22)} precision ${t.precision.toFixed(3)}  recall ${t.recall.toFixed(3)}  (${t.right}/${t.extra}/${t.missed})`);
  }
}

const started = performance.now();
const cv = crossValidate(corpus, taxonomy, { folds: 5, seed: 15 });
console.log(`tagger, ${cv.folds}-fold cross-validation (seed ${cv.seed}) on ${corpus.papers.length} held-out corpus papers:`);
report('  terms only', cv.termsOnly, false);
report('  terms + learned (held out)', cv.learned, true);
report(`tagger on the ${seed.papers.length} hand-labelled seed papers (shipped model)`, evaluateTagger(seed, compileTaxonomy(taxonomy)), true);
console.log(`  (${((performance.now() - started) / 1000).toFixed(1)} s)`);
