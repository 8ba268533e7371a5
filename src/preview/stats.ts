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

/** Who gets what for one section; pure, the same selection code as a run. */
export function audienceStats(papers: readonly ClassifiedPaper[], subscribers: readonly Subscriber[]): AudienceStats {
  const selections = new Map<string, SelectedPaper[]>();
  const variants = new Set<string>();
  const reached = new Set<string>();
  let active = 0;
  let recipients = 0;
  for (const s of subscribers) {
    if (s.status !== 'active') continue;
    active++;
    const key = preferenceKey(s);
    let selected = selections.get(key);
    if (!selected) selections.set(key, (selected = matcherFor(s).select(papers)));
    if (selected.length === 0) continue;
    recipients++;
    variants.add(variantKey(selected, s.format));
    for (const { paper } of selected) reached.add(paper.id);
  }
  return { active, recipients, variants: variants.size, unreached: papers.filter((p) => !reached.has(p.id)) };
}
