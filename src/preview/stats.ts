import type { Subscriber } from '../audience/schema.js';
import { matcherFor, preferenceKey, type SelectedPaper } from '../audience/select.js';
import type { ClassifiedPaper } from '../topics/classify.js';
import { variantKey } from '../render/render.js';

export interface AudienceStats {
  active: number;
  /** Active subscribers who get an email for this section. */
  recipients: number;
  /** Distinct emails (MJML renders) the section needs. */
  variants: number;
  /** Papers no active subscriber receives. */
  unreached: ClassifiedPaper[];
}

/**
 * Who gets what for one section; pure, the same selection code as a run. Takes active
 * subscribers grouped by preferences (`count` readers share each one's), so 100,000 readers
 * with a few thousand distinct preference sets cost a few thousand selections.
 */
export function audienceStats(papers: readonly ClassifiedPaper[], groups: readonly { subscriber: Subscriber; count: number }[]): AudienceStats {
  const selections = new Map<string, SelectedPaper[]>();
  const variants = new Set<string>();
  const reached = new Set<string>();
  let active = 0;
  let recipients = 0;
  for (const { subscriber, count } of groups) {
    if (subscriber.status !== 'active') continue;
    active += count;
    const key = preferenceKey(subscriber);
    let selected = selections.get(key);
    if (!selected) selections.set(key, (selected = matcherFor(subscriber).select(papers)));
    if (selected.length === 0) continue;
    recipients += count;
    variants.add(variantKey(selected, subscriber.format));
    for (const { paper } of selected) reached.add(paper.id);
  }
  return { active, recipients, variants: variants.size, unreached: papers.filter((p) => !reached.has(p.id)) };
}
