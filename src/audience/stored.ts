import type { Problem } from '../errors.js';
import type { Store } from '../store/store.js';
import type { StoredSubscriber } from '../store/types.js';
import { topicProblem } from './load.js';

/**
 * Every stored subscriber, validated against the taxonomy. For small consumers only (preview,
 * render, the CLI's list): a send streams pages instead (src/run/deliver.ts).
 */
export async function readAllSubscribers(store: Store, topicIds: ReadonlySet<string>): Promise<{ subscribers: StoredSubscriber[]; problems: Problem[] }> {
  const subscribers: StoredSubscriber[] = [];
  const problems: Problem[] = [];
  for await (const page of store.streamSubscribers({ limit: 1000 })) {
    problems.push(...page.problems);
    for (const s of page.subscribers) {
      const problem = topicProblem(s, topicIds);
      if (problem) problems.push({ where: `subscriber ${s.email}`, ...problem });
      else subscribers.push(s);
    }
  }
  return { subscribers, problems };
}
