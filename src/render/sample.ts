import { escapeHtml } from '../digest/html.js';
import type { Section } from '../digest/types.js';

/**
 * A small section that exercises every template branch (a link-less paper, an extra field,
 * a long author list, markup to escape). `validate` and the template tests render it.
 */
export function sampleSection(): Section {
  const text = (t: string) => ({ text: t, html: escapeHtml(t) });
  return {
    date: '2025-01-15',
    range: { from: '2025-01-14', to: '2025-01-15' },
    source: 'sample:1',
    hash: 'sample',
    papers: [
      {
        id: '2501.00001',
        title: text('A <Sample> Paper on "Video" Reasoning & Agents'),
        authors: ['Ana López', 'Björn Østergaard', '李明', 'Kwame Mensah', 'Priya Raman', 'Omar Haddad', 'Zoë Martin', 'Jean Dupont'],
        link: 'https://arxiv.org/abs/2501.00001',
        motivation: text('Why it matters.'),
        method: text('What they did.'),
        abstract: text('What they found, at some length. '.repeat(30)),
        extra: { Code: text('https://example.org/code') },
        source: 'sample:3',
      },
      {
        id: 'sample-no-link',
        title: text('A Second Paper Without a Link'),
        authors: [],
        link: null,
        motivation: null,
        method: null,
        abstract: text('Short abstract.'),
        extra: {},
        source: 'sample:20',
      },
    ],
  };
}
