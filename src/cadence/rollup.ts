import type { LocalDay } from './time.js';

/** A section as the roll-up sees it: its date and its papers, in the order they rank. */
export interface DatedSection<P extends { id: string }> {
  date: LocalDay;
  papers: readonly P[];
}

export interface RollUpDay<P> {
  date: LocalDay;
  papers: P[];
}

/**
 * The papers for one reader's issue: from the sections dated within `covers` (inclusive), those
 * the reader matches and has not been sent yet (by paper id), each once (the earliest day it
 * appears on), grouped by day in date order, keeping each section's order. Days left with no paper
 * are dropped. Pure: matching and the sent set come from the caller.
 */
export function rollUp<P extends { id: string }>(
  sections: readonly DatedSection<P>[],
  covers: { from: LocalDay; to: LocalDay },
  alreadySent: ReadonlySet<string>,
  matches: (paper: P) => boolean = () => true,
): RollUpDay<P>[] {
  const seen = new Set<string>();
  const days: RollUpDay<P>[] = [];
  const inWindow = sections
    .filter((section) => section.date >= covers.from && section.date <= covers.to)
    .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  for (const section of inWindow) {
    const papers = section.papers.filter((paper) => {
      if (seen.has(paper.id) || alreadySent.has(paper.id) || !matches(paper)) return false;
      seen.add(paper.id);
      return true;
    });
    if (papers.length === 0) continue;
    const sameDay = days.find((day) => day.date === section.date);
    if (sameDay) sameDay.papers.push(...papers);
    else days.push({ date: section.date, papers });
  }
  return days;
}

export function paperIdsOf<P extends { id: string }>(days: readonly RollUpDay<P>[]): string[] {
  return days.flatMap((day) => day.papers.map((paper) => paper.id));
}
