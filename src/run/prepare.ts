import { addressKey, type Subscriber } from '../audience/schema.js';
import { selectPapers } from '../audience/select.js';
import type { Config } from '../config/load.js';
import type { Section } from '../digest/types.js';
import { UserError } from '../errors.js';
import { renderEmail, type RenderedEmail } from '../render/render.js';
import { classifyPaper } from '../topics/classify.js';
import { topicProblem } from '../audience/load.js';
import type { StoredSubscriber } from '../store/types.js';
import { loadInputs, renderSettings, type Inputs } from './context.js';

export interface Audience {
  section?: string | undefined;
  subscriber?: string | undefined;
  topics?: string | undefined;
}

/** A stand-in subscriber for an ad-hoc topic set (render, send-test, preview). */
export function adHocSubscriber(topics: string[]): Subscriber {
  return { email: 'preview@example.org', name: 'Preview', status: 'active', topics, excludeTopics: [], authors: [], keywords: [] };
}

async function storedSubscriber(config: Config, email: string): Promise<StoredSubscriber | undefined> {
  const { openAppStore } = await import('../store/bootstrap.js');
  const store = await openAppStore(config);
  try {
    return await store.getSubscriber(email);
  } finally {
    await store.close();
  }
}

/**
 * The one email of a section for a subscriber from the list or an ad-hoc topic set, rendered
 * by the same code as a run. Null (after saying so) when nothing matches.
 */
export async function prepareEmail(
  config: Config,
  flags: Audience,
  loaded?: Inputs,
): Promise<{ section: Section; subscriber: Subscriber; rendered: RenderedEmail } | null> {
  if (flags.subscriber !== undefined && flags.topics !== undefined) {
    throw new UserError('give only one of --subscriber EMAIL or --topics a,b');
  }
  const inputs = loaded ?? (await loadInputs(config));
  const section = flags.section
    ? inputs.sections.find((s) => s.date === flags.section)
    : inputs.sections.filter((s) => s.papers.length > 0).at(-1);
  if (!section) throw new UserError(`no section dated ${flags.section ?? '(any)'}`, 'Run "digest-mailer sections" to list the dates.');

  let subscriber: Subscriber;
  if (flags.subscriber !== undefined) {
    // One row from the store, not the whole list (a list of 100,000 is 100,000 objects in memory).
    const found = loaded ? loaded.subscribers.find((s) => addressKey(s.email) === addressKey(flags.subscriber!)) : await storedSubscriber(config, flags.subscriber);
    if (!found) throw new UserError(`no subscriber ${flags.subscriber} in the store`, 'List them with "digest-mailer subscribers list".');
    const problem = topicProblem(found, new Set(inputs.taxonomy.topics.map((t) => t.id)));
    if (problem) throw new UserError(`subscriber ${found.email}: ${problem.message}`, problem.hint);
    subscriber = found;
  } else {
    const topics = (flags.topics ?? '').split(',').map((t) => t.trim()).filter(Boolean);
    const known = new Set(inputs.taxonomy.topics.map((t) => t.id));
    const unknown = topics.filter((t) => !known.has(t));
    if (unknown.length) throw new UserError(`unknown topic ${unknown.join(', ')}`, `Known topics: ${[...known].join(', ')}.`);
    subscriber = adHocSubscriber(topics);
  }

  const papers = section.papers.map((p) => classifyPaper(p, inputs.compiledTaxonomy));
  const selected = selectPapers(papers, subscriber);
  if (selected.length === 0) return null;
  const rendered = await renderEmail(inputs.templates, config.paths.templates, section, selected, renderSettings(config, inputs.taxonomy), subscriber.format);
  return { section, subscriber, rendered };
}

