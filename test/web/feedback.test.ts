import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/load.js';
import { prepareEmail } from '../../src/run/prepare.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/store.js';
import { FAST_DELIVERY, TEST_SECRET, cli, configure, makeProject, smtpTransport } from '../cli/cli-helpers.js';
import { startSmtpSink, type SmtpSink } from '../integration/servers.js';
import { startApp, type RunningApp } from './web-helpers.js';

const env = { DIGEST_MAILER_SECRET: TEST_SECRET };
const SENT = '2025-11-13'; // a first run sends only the newest section
const NEXT = '2025-11-12'; // rendered for the reader before and after, as a run would
let sink: SmtpSink;
let web: RunningApp;
let dir: string;
let config: Config;

beforeAll(async () => {
  sink = await startSmtpSink();
  dir = await makeProject();
  await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY });
  web = await startApp(dir);
  const run = await cli(dir, ['run'], env);
  if (run.code !== 0) throw new Error(`run failed: ${run.stderr}`);
  config = await loadConfig(join(dir, 'config.json'));
});
afterAll(async () => {
  await web?.close();
  await sink?.close();
});

interface FeedbackLink { url: string; paper: string; want: string; token: string }

/** The feedback links of the email a run sent to `email`, from both parts, read by an independent MIME parser. */
async function emailTo(email: string) {
  const raw = sink.messages.find((m) => m.to[0] === email)?.raw;
  if (!raw) throw new Error(`no email to ${email}`);
  const parsed = await simpleParser(raw);
  const html = (parsed.html || '').replace(/&amp;/g, '&');
  const parse = (url: string): FeedbackLink => {
    const u = new URL(url);
    return { url, paper: u.searchParams.get('paper')!, want: u.searchParams.get('want')!, token: u.searchParams.get('token')! };
  };
  const htmlLinks = [...html.matchAll(/href="(https:\/\/digest\.example\.org\/feedback\?[^"]+)"/g)].map((m) => parse(m[1]!));
  const textLinks = [...(parsed.text ?? '').matchAll(/(?:More|Less) like this: (https:\/\/digest\.example\.org\/feedback\?\S+)/g)].map((m) => parse(m[1]!));
  const manage = /(https:\/\/digest\.example\.org\/preferences\?token=\S+)/.exec(parsed.text ?? '')![1]!;
  const paperIds = [...new Set([...html.matchAll(/https:\/\/arxiv\.org\/abs\/([0-9.]+)/g)].map((m) => m[1]!))];
  return { htmlLinks, textLinks, manage, paperIds };
}

/** The store of the project, opened for one look (the server and the CLI hold their own). */
async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(config);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

const stateOf = (email: string) =>
  withStore(async (store) => ({ subscriber: await store.getSubscriber(email), history: (await store.consentHistory(email)).length, counts: await store.feedbackCounts() }));

/** The papers of a section as a run would send them to `email` now: order and selection. */
async function nextEmail(email: string, section = NEXT): Promise<string[]> {
  const prepared = await prepareEmail(config, { section, subscriber: email });
  return prepared?.rendered.paperIds ?? [];
}

/** The paper's topics and authors as the feedback page offers them. */
async function offered(link: FeedbackLink) {
  const page = await (await web.get(link.url)).text();
  const topics = [...page.matchAll(/name="topics" value="([^"]+)"/g)].map((m) => m[1]!);
  const follow = [...page.matchAll(/name="follow" value="([^"]+)"/g)].map((m) => m[1]!);
  const exclude = [...page.matchAll(/name="exclude" value="([^"]+)"/g)].map((m) => m[1]!);
  return { page, topics, follow, exclude };
}

const formOf = (link: FeedbackLink) => {
  const u = new URL(link.url);
  return { token: link.token, date: u.searchParams.get('date')!, paper: link.paper, want: link.want };
};

describe('"more / less like this" links in the email', () => {
  it('gives every paper a more and a less link in both parts, all with one compact token of the reader', async () => {
    const email = await emailTo('ana.lopez@example.org');
    expect(email.paperIds.length).toBeGreaterThan(1);
    for (const links of [email.htmlLinks, email.textLinks]) {
      expect(links.map((l) => `${l.paper}:${l.want}`)).toEqual(email.paperIds.flatMap((id) => [`${id}:more`, `${id}:less`]));
      expect(new Set(links.map((l) => l.token)).size).toBe(1);
    }
    expect(email.htmlLinks[0]!.token).toBe(email.textLinks[0]!.token);
    expect(email.htmlLinks[0]!.token.length).toBeLessThan(48);
    // Another reader's email carries another token.
    expect((await emailTo('jonas.weber@example.com')).htmlLinks[0]!.token).not.toBe(email.htmlLinks[0]!.token);
  });
});

describe('the feedback loop over HTTP', () => {
  const ana = 'ana.lopez@example.org';

  it('GET (and HEAD) of every link only shows the confirmation page: nothing is changed or counted', async () => {
    const before = await stateOf(ana);
    const { htmlLinks } = await emailTo(ana);
    for (const link of htmlLinks) {
      const res = await web.get(link.url);
      expect(res.status, link.url).toBe(200);
      expect(res.headers.get('cache-control')).toBe('private, no-store');
      const page = await res.text();
      expect(page).toContain('<form method="post" action="/feedback">');
      expect(page).toContain(`name="token" value="${link.token}"`);
      expect(page).toContain(link.want === 'more' ? 'Show me more like this' : 'Show me less like this');
      expect((await fetch(`${web.url}${new URL(link.url).pathname}${new URL(link.url).search}`, { method: 'HEAD' })).status).toBe(200);
    }
    expect(await stateOf(ana)).toEqual(before);
    expect(before.counts).toEqual({ papers: [], topics: [] });
  });

  it('the button applies "more" (topics up, an author followed), the next email ranks by it; "less" with an exclusion drops a topic; undo restores the email', async () => {
    const before = await nextEmail(ana);
    const sentBefore = await nextEmail(ana, SENT);
    const { htmlLinks, manage } = await emailTo(ana);
    // A paper late in the email with topics, so moving its topics up shows.
    const more = [...htmlLinks].reverse().find((l) => l.want === 'more')!;
    const offer = await offered(more);
    expect(offer.topics.length).toBeGreaterThan(0);
    expect(offer.follow.length).toBeGreaterThan(0);
    const author = offer.follow.at(-1)!;
    const applied = await web.post('/feedback', { ...formOf(more), topics: offer.topics, follow: [author] });
    expect(applied.status).toBe(303);
    const preferences = applied.headers.get('location')!;
    expect(preferences).toMatch(/^\/preferences\?token=v1\..+&learned=1#learned$/);

    const learned = (await stateOf(ana)).subscriber!.learned!;
    for (const topic of offer.topics) expect(learned.topics[topic]).toBe(0.5);
    expect(learned.authors).toEqual([author]);
    // The preference centre lists what was learned.
    const centre = await (await web.get(preferences)).text();
    expect(centre).toContain('Thanks: your next email uses it.');
    expect(centre).toContain(`Following <strong>${author.replace(/'/g, '&#x27;')}</strong>`);
    expect(centre.match(/<button type="submit" class="small">/g)?.length).toBe(offer.topics.length + 1);

    // The next email: the same papers (weights reorder), those on the boosted topics first.
    const after = await nextEmail(ana);
    expect(new Set(after)).toEqual(new Set(before));
    expect(after).not.toEqual(before);
    // The followed author's paper leads the re-rendered sent section.
    const sentAfter = await nextEmail(ana, SENT);
    expect(sentAfter[0]).toBe(more.paper);
    expect(sentBefore[0]).not.toBe(more.paper);

    // "less" on another paper, excluding one of its topics: the selection drops that topic.
    const less = htmlLinks.find((l) => l.want === 'less' && l.paper !== more.paper)!;
    const lessOffer = await offered(less);
    expect(lessOffer.exclude.length).toBeGreaterThan(0);
    const excluded = lessOffer.exclude[0]!;
    expect((await web.post('/feedback', { ...formOf(less), topics: lessOffer.topics, exclude: excluded })).status).toBe(303);
    const afterLess = await nextEmail(ana);
    expect(afterLess.length).toBeLessThan(after.length);
    const state = await stateOf(ana);
    expect(state.subscriber!.learned!.excludeTopics).toEqual([excluded]);
    // The consent record names the change's source, never the paper.
    const history = await withStore((s) => s.consentHistory(ana));
    expect(history.filter((h) => h.by === 'feedback')).toHaveLength(2);
    expect(JSON.stringify(history)).not.toContain(more.paper);
    // Aggregate counts only: per paper and per topic.
    expect(state.counts.papers).toEqual(expect.arrayContaining([{ section: SENT, paper: more.paper, more: 1, less: 0 }, { section: SENT, paper: less.paper, more: 0, less: 1 }]));
    expect(state.counts.topics.find((t) => t.topic === excluded)?.less).toBeGreaterThanOrEqual(1);
    // The operator reads them with `digest-mailer stats`, per section: per paper, then per topic.
    const stats = await cli(dir, ['stats', '--json', '--section', SENT], env);
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout).feedback).toEqual(state.counts);
    const text = (await cli(dir, ['stats'], env)).stdout;
    expect(text).toContain('"More / less like this" applied');
    expect(text).toMatch(new RegExp(`${SENT}\\s+${more.paper.replace('.', '\\.')}\\s+1\\s+0`));

    // Undo every item from the preference centre (POST with the manage token): the email is as before.
    for (;;) {
      const page = await (await web.get(manage)).text();
      const undo = /<input type="hidden" name="undo" value="([^"]+)">/.exec(page)?.[1];
      if (!undo) break;
      const res = await web.post('/preferences/learned', { token: new URL(manage).searchParams.get('token')!, undo: undo.replace(/&#x27;/g, "'").replace(/&amp;/g, '&') });
      expect(res.status).toBe(303);
    }
    expect((await stateOf(ana)).subscriber!.learned).toBeUndefined();
    expect(await nextEmail(ana)).toEqual(before);
    expect(await nextEmail(ana, SENT)).toEqual(sentBefore);
    // GET of the undo address changes nothing either: it is POST only.
    expect((await web.get(`/preferences/learned?token=${new URL(manage).searchParams.get('token')}`)).status).toBe(404);
  });

  it('refuses forged, tampered, other-purpose, other-subscriber, expired and revoked tokens with 403, changing nothing', async () => {
    const priya = 'priya.raman@example.org';
    const before = await stateOf(priya);
    const { htmlLinks, manage } = await emailTo(priya);
    const link = htmlLinks.find((l) => l.want === 'more')!;
    const offer = await offered(link);
    const manageToken = new URL(manage).searchParams.get('token')!;
    const [id, gen, exp, tag] = link.token.split('.') as [string, string, string, string];
    const other = (await emailTo('jonas.weber@example.com')).htmlLinks[0]!.token;
    const bad = {
      forged: `${id}.${gen}.${exp}.${tag.slice(0, -2)}${tag.endsWith('AA') ? 'BB' : 'AA'}`,
      // Another subscriber's id under this reader's tag, and a later expiry: the tag covers both.
      otherId: `${(parseInt(id, 36) + 1).toString(36)}.${gen}.${exp}.${tag}`,
      longer: `${id}.${gen}.${(parseInt(exp, 36) + 86_400).toString(36)}.${tag}`,
      manage: manageToken,
      missing: '',
    };
    for (const [name, token] of Object.entries(bad)) {
      const get = await web.get(`/feedback?${new URLSearchParams({ ...formOf(link), token })}`);
      expect(get.status, name).toBe(403);
      const post = await web.post('/feedback', { ...formOf(link), token, topics: offer.topics });
      expect(post.status, name).toBe(403);
    }
    // A feedback token opens no preference centre, and is no undo token.
    expect((await web.get(`/preferences?token=${link.token}`)).status).toBe(403);
    expect((await web.post('/preferences/learned', { token: link.token, undo: 'topic:video' })).status).toBe(403);
    expect(await stateOf(priya)).toEqual(before);

    // Another subscriber's valid token changes that subscriber only, whatever the page was.
    const jonasBefore = await stateOf('jonas.weber@example.com');
    expect((await web.post('/feedback', { ...formOf(link), token: other, topics: offer.topics })).status).toBe(303);
    expect(await stateOf(priya)).toEqual({ ...before, counts: expect.anything() });
    expect((await stateOf('jonas.weber@example.com')).subscriber!.learned).not.toEqual(jonasBefore.subscriber!.learned);

    // Choices the paper does not offer are refused.
    expect((await web.post('/feedback', { ...formOf(link), topics: ['not-a-topic-of-it'] })).status).toBe(400);
    const stateBefore = await stateOf(priya);
    expect((await web.post('/feedback', { ...formOf(link), want: 'more', topics: [], follow: ['Not An Author Of It'] })).status).toBe(400);
    expect((await web.post('/feedback', { ...formOf(link), want: 'less', topics: [], exclude: 'not-a-topic-of-it' })).status).toBe(400);
    expect(await stateOf(priya)).toEqual(stateBefore);

    const later = await startApp(dir, { now: () => new Date(Date.now() + 400 * 86_400_000) });
    try {
      const expired = await later.get(link.url);
      expect(expired.status).toBe(403);
      expect(await expired.text()).toContain('This link has expired');
    } finally {
      await later.close();
    }
    expect((await cli(dir, ['subscribers', 'revoke-links', priya], env)).code).toBe(0);
    const revoked = await web.post('/feedback', { ...formOf(link), topics: offer.topics });
    expect(revoked.status).toBe(403);
    expect(await revoked.text()).toContain('This link no longer works');
    expect((await stateOf(priya)).subscriber!.learned).toEqual(before.subscriber!.learned);
  });
});
