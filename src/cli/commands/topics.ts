import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import { loadDigests } from '../../digest/load.js';
import { parseDigest } from '../../digest/parse.js';
import type { Paper } from '../../digest/types.js';
import { InputError } from '../../errors.js';
import { readJsonFile } from '../../json-file.js';
import { analysePaper, compileTaxonomy, scoreTopics, type MatchedTerm, type TopicVerdict } from '../../topics/classify.js';
import { parseLabelledFile } from '../../topics/corpus.js';
import { evaluateTagger, type Evaluation } from '../../topics/evaluate.js';
import { loadTaxonomy, modelIsCurrent, modelPath } from '../../topics/load.js';
import { trainModel } from '../../topics/train.js';
import { readFile } from 'node:fs/promises';
import { EXIT, type GlobalOptions } from '../exit.js';
import { loadConfigFrom, printProblems, warn } from '../shared.js';

const evidence = (terms: readonly MatchedTerm[]) =>
  terms.map((t) => `${t.learned ? '~' : ''}"${t.term}" (${t.field}${t.contribution ? ', contributed' : ''}${t.points === undefined ? '' : ` +${t.points}`})`).join(', ');

function verdictLine(v: TopicVerdict): string {
  return `    ${v.given ? '+' : '-'} ${v.id.padEnd(22)} score ${v.score.toFixed(2)}  points ${String(v.points).padStart(4)}  ${evidence(v.terms)}${v.note ? `  [${v.note}]` : ''}`;
}

/** `topics explain --section DATE [--paper N]`: every paper's topics with their evidence and scores. */
export async function topicsExplainCommand(globals: GlobalOptions, flags: { section: string; paper?: string; json: boolean }): Promise<number> {
  const config = await loadConfigFrom(globals);
  const taxonomy = await loadTaxonomy(config.paths.topics);
  const compiled = compileTaxonomy(taxonomy);
  const digests = await loadDigests(config.paths.digests);
  printProblems(digests.problems);
  const section = digests.sections.find((s) => s.date === flags.section);
  if (!section) {
    const known = digests.sections.map((s) => s.date);
    throw new InputError(`no section ${flags.section} in ${config.paths.digests}`, known.length ? `Known sections: ${known.join(', ')}.` : 'The digests folder has no sections.');
  }
  let papers = section.papers.map((paper, i) => ({ n: i + 1, paper }));
  if (flags.paper !== undefined) {
    const n = Number(flags.paper);
    if (!Number.isInteger(n) || n < 1 || n > section.papers.length) {
      throw new InputError(`--paper ${flags.paper}: section ${section.date} has papers 1 to ${section.papers.length}`, 'Give the paper\'s number as `topics explain` lists it.');
    }
    papers = papers.filter((p) => p.n === n);
  }
  const rows = papers.map(({ n, paper }) => ({ n, paper, verdicts: scoreTopics(analysePaper(paper, compiled), compiled) }));
  if (flags.json) {
    console.log(
      JSON.stringify(
        {
          section: section.date,
          papers: rows.map(({ n, paper, verdicts }) => ({
            n,
            id: paper.id,
            title: paper.title.text,
            topics: verdicts.filter((v) => v.given).map((v) => v.id),
            verdicts: flags.paper === undefined ? verdicts.filter((v) => v.given) : verdicts,
          })),
          untagged: rows.filter((r) => !r.verdicts.some((v) => v.given)).map((r) => r.n),
        },
        null,
        2,
      ),
    );
    return EXIT.ok;
  }
  if (!modelIsCurrent(taxonomy)) warn('note: the learned topic weights were trained on other terms; run `npm run topics:train` to refresh them.');
  console.log(`Section ${section.date}: ${section.papers.length} papers (+ given, - not given; ~ learned evidence)`);
  for (const { n, paper, verdicts } of rows) {
    console.log(`[${n}] ${paper.id}  ${paper.title.text}`);
    // One paper: every topic that scored anything, to show near misses; a section: the topics given.
    const shown = flags.paper === undefined ? verdicts.filter((v) => v.given) : verdicts.filter((v) => v.given || v.points > 0 || v.score >= 0.2);
    if (!verdicts.some((v) => v.given)) console.log('    (no topic)');
    for (const v of shown) console.log(verdictLine(v));
  }
  const untagged = rows.filter((r) => !r.verdicts.some((v) => v.given));
  if (flags.paper === undefined) {
    console.log(untagged.length === 0 ? 'Every paper has a topic.' : `No topic (${untagged.length}): ${untagged.map((r) => `[${r.n}] ${r.paper.title.text}`).join('; ')}`);
  }
  return EXIT.ok;
}

function printEvaluation(e: Evaluation): void {
  console.log(`${e.papers} papers: precision ${e.precision.toFixed(3)}, recall ${e.recall.toFixed(3)} (${e.right} right, ${e.extra} extra, ${e.missed} missed)`);
  console.log(`  ${'topic'.padEnd(22)} precision  recall  right extra missed`);
  for (const [id, t] of Object.entries(e.perTopic)) {
    console.log(`  ${id.padEnd(22)} ${t.precision.toFixed(3).padStart(9)} ${t.recall.toFixed(3).padStart(7)} ${String(t.right).padStart(6)} ${String(t.extra).padStart(5)} ${String(t.missed).padStart(6)}`);
  }
  console.log(`Papers with no topic: ${e.untagged.length}${e.centralUntagged.length ? ` (${e.centralUntagged.length} of them have a required topic: ${e.centralUntagged.join(', ')})` : ''}`);
}

async function readLabelled(file: string, digest: string | undefined) {
  let digestPapers: Paper[] | undefined;
  if (digest) {
    const parsed = parseDigest(await readFile(digest, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new InputError(`cannot read the digest ${digest}: ${err.code ?? String(err)}`);
    }), digest);
    digestPapers = parsed.sections.flatMap((s) => s.papers);
  }
  return parseLabelledFile(await readJsonFile(file, 'the labelled topics file'), file, digestPapers);
}

/** `topics eval FILE [--digest FILE]`: precision and recall of the configured tagger on hand labels. */
export async function topicsEvalCommand(globals: GlobalOptions, file: string, flags: { digest?: string; json: boolean }): Promise<number> {
  const config = await loadConfigFrom(globals);
  const taxonomy = await loadTaxonomy(config.paths.topics);
  const set = await readLabelled(file, flags.digest);
  const unknown = [...new Set(Object.values(set.labels).flat())].filter((t) => !taxonomy.topics.some((x) => x.id === t));
  if (unknown.length) warn(`note: ${file} uses topics that are not in ${config.paths.topics}: ${unknown.join(', ')} (they count as missed)`);
  const result = evaluateTagger(set, compileTaxonomy(taxonomy));
  if (flags.json) console.log(JSON.stringify(result, null, 2));
  else printEvaluation(result);
  return EXIT.ok;
}

/** `topics train [FILE]`: fits the learned weights on a labelled file and writes them where topics.json says. */
export async function topicsTrainCommand(globals: GlobalOptions, file: string, flags: { digest?: string; out?: string }): Promise<number> {
  const config = await loadConfigFrom(globals);
  // The old weights play no part in fitting new ones (and may be missing or stale).
  const taxonomy = await loadTaxonomy(config.paths.topics, { termsOnly: true });
  const out = flags.out ?? modelPath(taxonomy, config.paths.topics);
  if (!out) throw new InputError(`${config.paths.topics} names no "model" file`, 'Add "model": "topics.model.json" to it, or pass --out FILE.');
  const set = await readLabelled(file, flags.digest);
  const model = trainModel(set, taxonomy, {}, file);
  model._comment = 'Learned topic weights; generated by `npm run topics:train` (digest-mailer topics train). Do not edit by hand.';
  await writeFile(out, `${JSON.stringify(model, null, 1)}\n`);
  const trained = Object.keys(model.topics);
  console.log(`Trained ${trained.length} of ${taxonomy.topics.length} topics on ${set.papers.length} papers; wrote ${out}.`);
  const untrained = taxonomy.topics.map((t) => t.id).filter((id) => !trained.includes(id));
  if (untrained.length) console.log(`Too few labelled examples, terms only: ${untrained.join(', ')}`);
  return EXIT.ok;
}

/** Adds `topics explain|eval|train` to the CLI. */
export function registerTopicsCommands(program: Command, globals: () => GlobalOptions): void {
  const topics = program.command('topics').description('inspect and measure the topic tagger');
  topics
    .command('explain')
    .description("show each paper's topics with their evidence and scores, and the papers with none")
    .requiredOption('--section <date>', 'section date (YYYY-MM-DD)')
    .option('--paper <n>', 'only this paper (its number in the list), with the topics it just missed')
    .option('--json', 'machine-readable', false)
    .action(async (opts) => {
      process.exitCode = await topicsExplainCommand(globals(), opts);
    });
  topics
    .command('eval <file>')
    .description('precision and recall against a hand-labelled file (format of test/fixtures/corpus-topics.json)')
    .option('--digest <file>', 'the digest whose papers a labels-only file refers to')
    .option('--json', 'machine-readable', false)
    .action(async (file, opts) => {
      process.exitCode = await topicsEvalCommand(globals(), file, opts);
    });
  topics
    .command('train [file]')
    .description('fit the learned weights on a labelled file and write the model named in the topics file')
    .option('--digest <file>', 'the digest whose papers a labels-only file refers to')
    .option('--out <file>', 'write the model here instead')
    .action(async (file, opts) => {
      process.exitCode = await topicsTrainCommand(globals(), file ?? 'test/fixtures/corpus-topics.json', opts);
    });
}
