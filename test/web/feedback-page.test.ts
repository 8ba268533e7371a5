import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { learnedList } from '../../src/audience/feedback.js';
import { loadPages } from '../../src/web/pages.js';
import { ROOT } from '../helpers.js';

const pages = await loadPages(join(ROOT, 'templates'), { name: 'Digest' });
const evil = '<script>alert(1)</script>"\' onmouseover=x';

describe('the feedback pages escape everything from a digest, a topic file or a reader', () => {
  it('the confirmation page', () => {
    for (const want of ['more', 'less'] as const) {
      const html = pages.render('feedback', 'More like this', {
        want, more: want === 'more', token: `${evil}tok`, date: '2025-11-12', paper: evil, title: evil, authorsLine: evil,
        topics: [{ id: evil, label: evil, index: 0 }], excludable: [{ id: evil, label: evil, index: 0 }],
        follow: [{ name: evil, index: 0, followed: false }], otherUrl: `/feedback?x=${evil}`,
      });
      expect(html).not.toContain('<script>alert');
      expect(html).not.toMatch(/value="[^"]*"' onmouseover/);
      expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27; onmouseover&#x3D;x');
      expect(html).toContain('<form method="post" action="/feedback">');
    }
  });

  it('the learned list in the preference centre', () => {
    const learned = learnedList({ topics: { [evil]: 0.5 }, authors: [evil], excludeTopics: [evil] }, { [evil]: evil });
    const html = pages.render('preferences', 'Your preferences', {
      subscriber: { email: 'a@example.org', name: evil }, token: 't', include: [], exclude: [], authors: '', keywords: '',
      delivery: { weekdays: [], hours: [], formats: [] }, learned,
    });
    expect(html).not.toContain('<script>alert');
    expect(html.match(/action="\/preferences\/learned"/g)).toHaveLength(3);
    expect(html).not.toMatch(/value="[^"]*"' onmouseover/);
  });
});
