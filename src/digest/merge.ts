import type { ParseResult } from './parse.js';
import type { Section } from './types.js';

/**
 * Combines the parses of several files. The same date in two places is an error naming
 * both; neither copy is sent until one is removed, because we cannot know which is right.
 */
export function mergeDigests(results: ParseResult[]): ParseResult {
  const byDate = new Map<string, Section[]>();
  const problems = results.flatMap((r) => r.problems);
  for (const section of results.flatMap((r) => r.sections)) {
    byDate.set(section.date, [...(byDate.get(section.date) ?? []), section]);
  }
  const sections: Section[] = [];
  for (const [date, copies] of byDate) {
    if (copies.length === 1) {
      sections.push(copies[0]!);
      continue;
    }
    problems.push({
      where: copies.map((s) => s.source).join(' and '),
      message: `section ${date} appears ${copies.length} times; none of them is sent`,
      hint: 'Keep one copy of the section and delete the others.',
    });
  }
  sections.sort((a, b) => a.date.localeCompare(b.date));
  return { sections, problems };
}
