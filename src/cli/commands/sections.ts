import { openAppStore } from '../../store/bootstrap.js';
import { loadInputs } from '../../run/context.js';
import { planSections, todayIn } from '../../run/plan.js';
import { classifyPaper } from '../../topics/classify.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { loadConfigFrom, printProblems } from '../shared.js';

export async function sectionsCommand(globals: GlobalOptions, flags: { json: boolean }): Promise<number> {
  const config = await loadConfigFrom(globals);
  const inputs = await loadInputs(config);
  const store = await openAppStore(config);
  const records = await store.sections().finally(() => store.close());
  const today = todayIn(config.timezone, new Date());
  // Read-only: the plan shows what the next run would do, nothing is recorded.
  const plans = planSections(inputs.sections, records, { today, backfill: false });
  if (flags.json) {
    const out = plans.map(({ section, state, action, changedAfterSend }) => ({
      date: section.date,
      range: section.range,
      source: section.source,
      status: state,
      nextRun: action,
      changedAfterSend,
      papers: section.papers.map((p) => {
        const c = classifyPaper(p, inputs.compiledTaxonomy);
        return {
          id: c.id,
          title: c.title.text,
          authors: c.authors,
          link: c.link,
          topics: c.topics,
          matches: c.matches,
          source: c.source,
        };
      }),
    }));
    console.log(JSON.stringify({ today, sections: out, problems: inputs.problems }, null, 2));
    return inputs.problems.length > 0 ? EXIT.partial : EXIT.ok;
  }
  printProblems(inputs.problems);
  console.log(`Sections in ${config.paths.digests} (today is ${today} in ${config.timezone}):`);
  for (const { section, state, action, changedAfterSend } of plans) {
    const next = action === 'send' ? 'sent by the next run' : action === 'none' ? '' : `${action.replace('mark-', 'marked ')} by the next run`;
    const changed = changedAfterSend ? 'TEXT CHANGED after it was sent (not resent)' : '';
    console.log(
      `  ${section.date}  ${state.padEnd(12)} ${String(section.papers.length).padStart(2)} ${section.papers.length === 1 ? "paper " : "papers"}  ${section.source}  ${[next, changed].filter(Boolean).join('; ')}`,
    );
  }
  return inputs.problems.length > 0 ? EXIT.partial : EXIT.ok;
}
