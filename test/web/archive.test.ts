import { parseFeed } from '@rowanmanning/feed-parser';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classified } from '../helpers.js';
import { withProjectStore } from '../store/project-store.js';
import { archiveProject, SENT, UNSENT, type ArchiveProject } from './archive-fixture.js';

let project: ArchiveProject;
beforeAll(async () => {
  project = await archiveProject();
});
afterAll(async () => {
  await project?.web.close();
});

/** The papers of the sent sections, newest section first, classified independently of the app (test helper). */
function expectedPapers(topic?: string) {
  return SENT.flatMap((date) => classified(project.sections.get(date)!).filter((p) => !topic || p.topics.includes(topic)).map((p) => ({ date, paper: p })));
}

async function feed(path: string) {
  const res = await project.web.get(path);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/atom+xml; charset=utf-8');
  const xml = await res.text();
  // Well-formed XML (a strict validator), then read as Atom by a feed parser.
  expect(XMLValidator.validate(xml)).toBe(true);
  const parsed = parseFeed(xml);
  expect(parsed.meta.type).toBe('atom');
  return { parsed, xml, res };
}

describe('web archive and Atom feeds of the sent sections (real HTTP on 127.0.0.1)', () => {
  it('lists the sent sections newest first, and no other', async () => {
    const res = await project.web.get('/archive');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    const html = await res.text();
    const dates = [...html.matchAll(/<a href="\/archive\/(\d{4}-\d{2}-\d{2})"><time/g)].map((m) => m[1]);
    expect(dates).toEqual(SENT);
    for (const date of Object.values(UNSENT)) expect(html).not.toContain(date);
    expect(html).toContain('<link rel="alternate" type="application/atom+xml" title="All papers (Atom)" href="/feeds/all.atom">');
    expect(html).toContain('href="/feeds/video.atom"');
  });

  it('shows a sent issue with every paper in full, and answers 404 for any other date', async () => {
    const html = await (await project.web.get('/archive/2025-11-12')).text();
    const section = project.sections.get('2025-11-12')!;
    expect(html.match(/<article class="paper"/g)).toHaveLength(section.papers.length);
    for (const paper of section.papers) {
      expect(html).toContain(`id="paper-${paper.id}"`);
      expect(html).toContain(`<a href="#paper-${paper.id}">`); // its headline
      if (paper.abstract) expect(html).toContain(paper.abstract.html); // in full, not shortened
    }
    const sending = await project.web.get(`/archive/${UNSENT.sending}`);
    expect(sending.status).toBe(404);
    expect(await sending.text()).toContain('This issue is still going out');
    for (const date of [...Object.values(UNSENT), '2025-12-01', '2025-11-12x', 'yesterday']) {
      expect((await project.web.get(`/archive/${date}`)).status, date).toBe(404);
    }
  });

  it('escapes everything that comes from the digest, in pages and feeds', async () => {
    const html = await (await project.web.get('/archive/2025-11-14')).text();
    expect(html).not.toMatch(/<(script|img|iframe|b)\b/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt; &amp; Co ]]&gt;');
    const { parsed, xml } = await feed('/feeds/all.atom');
    const hostile = parsed.items.find((i) => i.id === 'tag:mllm-digest.example.org,2025-11-14:2511.99901')!;
    // The entry's HTML as sent (a strict XML parser, CDATA kept as text): digest markup is escaped in it.
    const entries = new XMLParser({ ignoreAttributes: false }).parse(xml).feed.entry as { id: string; content: { '#text': string } }[];
    const entryHtml = entries.find((e) => e.id === hostile.id)!.content['#text'];
    expect(entryHtml).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(entryHtml).not.toMatch(/<(script|img|iframe|b)\b/i);
    // The title is HTML in the feed (type="html"): escaped once, so a reader shows the characters.
    expect(hostile.title).toBe('<script>alert("title")</script> & Co ]]> "Quoted" Video Models');
    expect(hostile.authors.map((a) => a.name)).toEqual(['Zoë <b>Bold</b>', 'Ming Li']);
  });

  it('publishes every sent paper once in the all-papers feed, with stable ids, links and topics as categories', async () => {
    const { parsed } = await feed('/feeds/all.atom');
    const expected = expectedPapers();
    expect(parsed.items.map((i) => i.id)).toEqual(expected.map(({ date, paper }) => `tag:mllm-digest.example.org,${date}:${paper.id}`));
    for (const [n, item] of parsed.items.entries()) {
      const { date, paper } = expected[n]!;
      expect(item.url).toBe(`https://digest.example.org/archive/${date}#paper-${paper.id}`);
      expect(item.categories.map((c) => c.term)).toEqual(paper.topics);
      expect(item.published?.toISOString().slice(0, 10)).toBe(date);
    }
    expect(parsed.self).toBe('https://digest.example.org/feeds/all.atom');
    // The same request again gives the same bytes: ids and ETag are stable.
    const again = await feed('/feeds/all.atom');
    expect(again.res.headers.get('etag')).toBe((await project.web.get('/feeds/all.atom')).headers.get('etag'));
  });

  it('gives each topic a feed with exactly its sent papers', async () => {
    for (const topic of ['video', 'reasoning', 'multilingual']) {
      const { parsed } = await feed(`/feeds/${topic}.atom`);
      expect(parsed.items.map((i) => i.id), topic).toEqual(expectedPapers(topic).map(({ date, paper }) => `tag:mllm-digest.example.org,${date}:${paper.id}`));
      for (const item of parsed.items) expect(item.categories.map((c) => c.term)).toContain(topic);
      for (const date of Object.values(UNSENT)) expect(parsed.items.some((i) => i.id?.includes(`,${date}:`))).toBe(false);
    }
    expect((await project.web.get('/feeds/astrology.atom')).status).toBe(404);
    expect((await project.web.get('/feeds/video.rss')).status).toBe(404);
  });

  it('answers conditional requests with 304 (ETag and Last-Modified)', async () => {
    const first = await project.web.get('/feeds/video.atom');
    const etag = first.headers.get('etag')!;
    const lastModified = first.headers.get('last-modified')!;
    expect(etag).toMatch(/^"/);
    expect(new Date(lastModified).toISOString()).toBe('2025-11-14T07:00:00.000Z');
    const byTag = await fetch(`${project.web.url}/feeds/video.atom`, { headers: { 'if-none-match': etag } });
    expect(byTag.status).toBe(304);
    expect(await byTag.text()).toBe('');
    const byDate = await fetch(`${project.web.url}/feeds/video.atom`, { headers: { 'if-modified-since': lastModified } });
    expect(byDate.status).toBe(304);
    const older = await fetch(`${project.web.url}/feeds/video.atom`, { headers: { 'if-modified-since': 'Thu, 13 Nov 2025 00:00:00 GMT' } });
    expect(older.status).toBe(200);
    expect((await fetch(`${project.web.url}/archive/2025-11-12`, { headers: { 'if-none-match': (await project.web.get('/archive/2025-11-12')).headers.get('etag')! } })).status).toBe(304);
  });

  it('publishes a section once it is sent, without a restart, and links the archive from the subscribe page', async () => {
    expect((await project.web.get(`/archive/${UNSENT.sending}`)).status).toBe(404);
    await withProjectStore(project.dir, (store) =>
      store.putSection(UNSENT.sending, { status: 'sent', hash: project.sections.get(UNSENT.sending)!.hash, at: '2025-11-15T07:00:00.000Z', sentAt: '2025-11-15T07:00:00.000Z' }),
    );
    try {
      expect((await project.web.get(`/archive/${UNSENT.sending}`)).status).toBe(200);
      const { parsed } = await feed('/feeds/all.atom');
      const late = parsed.items.filter((i) => i.id?.includes(`,${UNSENT.sending}:`));
      expect(late).toHaveLength(project.sections.get(UNSENT.sending)!.papers.length);
      expect(late[0]!.updated?.toISOString()).toBe('2025-11-15T07:00:00.000Z');
      expect(parsed.updated?.toISOString()).toBe('2025-11-15T07:00:00.000Z'); // the feed changed with it
    } finally {
      await withProjectStore(project.dir, (store) =>
        store.putSection(UNSENT.sending, { status: 'sending', hash: project.sections.get(UNSENT.sending)!.hash, at: '2025-11-13T07:00:00.000Z', openedAt: '2025-11-13T07:00:00.000Z' }),
      );
    }
    const subscribe = await (await project.web.get('/subscribe')).text();
    expect(subscribe).toContain('<link rel="alternate" type="application/atom+xml" title="All papers (Atom)" href="/feeds/all.atom">');
    expect(subscribe).toMatch(/<a href="\/archive">/);
  });

  it('changes nothing on GET: no state route answers a GET or HEAD with a change', async () => {
    const before = await withProjectStore(project.dir, async (store) => [await store.subscribersVersion(), [...(await store.sections())]]);
    for (const path of ['/archive', '/archive/2025-11-12', '/feeds/all.atom', '/feeds/video.atom']) {
      expect((await fetch(`${project.web.url}${path}`, { method: 'HEAD' })).status).toBe(200);
      expect((await fetch(`${project.web.url}${path}`, { method: 'POST' })).status).toBe(404);
    }
    expect(await withProjectStore(project.dir, async (store) => [await store.subscribersVersion(), [...(await store.sections())]])).toEqual(before);
  });
});
