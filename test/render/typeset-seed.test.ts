import { describe, expect, it } from 'vitest';
import type { Preferences } from '../../src/audience/select.js';
import { renderFor } from './render-fixture.js';
import { NO_PREFS, seedSections } from '../helpers.js';

const readers: Record<string, Preferences> = {
  everything: NO_PREFS,
  benchmarks: { ...NO_PREFS, topics: ['benchmarks', 'reasoning'] },
  keyword: { ...NO_PREFS, keywords: ['bias', 'video'] },
};

/** What a reader sees of the HTML: no head, styles or tags, entities decoded for the characters we look for. */
function visible(html: string): string {
  return html
    .replace(/<head[\s\S]*?<\/head>/i, '')
    .replace(/<style[\s\S]*?<\/style>/gi, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/&#36;|&dollar;/g, '$');
}

const RAW = [
  { name: 'a $', pattern: /\$/ },
  { name: 'a backslash command', pattern: /\\[A-Za-z%&_#$]/ },
  { name: 'a backtick quote', pattern: /`|''/ },
];

describe('no LaTeX reaches a reader of a seed email', () => {
  for (const section of seedSections()) {
    it(`section ${section.date}`, async () => {
      for (const [who, prefs] of Object.entries(readers)) {
        const { selected, rendered, html, text } = await renderFor(section, prefs);
        if (!selected.length) continue;
        const parts = {
          html: visible(html),
          text,
          subject: rendered.subject,
          preheader: rendered.preheader,
        };
        for (const [part, value] of Object.entries(parts)) {
          for (const { name, pattern } of RAW) {
            const hit = pattern.exec(value);
            expect(hit, `${who} ${part} has ${name}: …${hit ? value.slice(Math.max(0, hit.index - 40), hit.index + 40) : ''}…`).toBeNull();
          }
        }
        // A ``quote'' pair once turned a dozen lines into one code block.
        for (const code of html.matchAll(/<code[^>]*>([\s\S]*?)<\/code>/g)) expect(code[1]!.length, `${who}: ${code[1]}`).toBeLessThan(40);
      }
    });
  }
});
