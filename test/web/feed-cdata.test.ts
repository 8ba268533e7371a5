import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/digest/parse.js';
import { atomFeed } from '../../src/web/feeds.js';
import { classified } from '../helpers.js';

// The feed library splits only the first `]]>` of a CDATA section, so a second one would end it
// early; the feed is safe because every field it gets is escaped HTML (`>` as `&gt;`). This holds it.
const SECTION = `
## 2025-11-14

### Closing ]]> twice ]]> in a title

**Authors:** Ming Li

**Link:** https://arxiv.org/pdf/2511.99902

**Motivation:**

First ]]> then ]]> and \`]]>\` in code.

**Abstract:**

Three ]]> marks ]]> here ]]> too.
`;

describe('Atom feed CDATA', () => {
  it('stays well-formed XML and keeps the text when a field holds several "]]>"', () => {
    const { sections } = parseDigest(SECTION, 'digests/x.md');
    const section = sections[0]!;
    const { xml } = atomFeed([{ section, papers: classified(section), sentAt: '2025-11-14T07:00:00.000Z' }], {
      baseUrl: 'https://digest.example', list: { name: 'Digest', id: 'digest.example,2025' }, labels: {},
    });
    expect(XMLValidator.validate(xml)).toBe(true);
    const entry = new XMLParser().parse(xml).feed.entry;
    expect(String(entry.title)).toContain('twice ]]&gt; in a title');
    expect(String(entry.summary)).toMatch(/First \]\]&gt; then \]\]&gt;/);
    expect(String(entry.content)).toMatch(/Three \]\]&gt; marks \]\]&gt; here \]\]&gt; too/);
  });
});
