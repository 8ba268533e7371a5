import { readdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, describe, expect, it } from 'vitest';
import { recipientLinks } from '../../src/tokens/links.js';
import { hostPattern } from '../../src/web/server.js';
import { isTrustedUrl } from '../../src/web/sns.js';
import { ROOT } from '../helpers.js';
import { TEST_SECRET, cli, configure, makeProject, spawnCli, waitFor } from '../cli/cli-helpers.js';
import { startPreview, type RunningPreview } from '../preview/preview-helpers.js';
import { scaled } from '../timeouts.js';
import { startApp, type RunningApp } from './web-helpers.js';

const IMG = '<img src=x onerror=alert(1)>';
const SCRIPT = '<script>alert(1)</script>';
const HOSTILE = 'eve@example.org';

let web: RunningApp | null = null;
let preview: RunningPreview | null = null;
afterEach(async () => {
  await web?.close();
  web = null;
  await preview?.close();
  preview = null;
});

/** Markup an attacker wrote must arrive as text: no tag, no event handler, no script element. */
function expectInert(html: string, where: string) {
  // As text it may read "onerror=alert(1)"; as markup it would be a tag of its own.
  expect(html, where).not.toMatch(/<img src=x/i);
  expect(html, where).not.toMatch(/<svg onload/i);
  expect(html, where).not.toContain(SCRIPT);
  expect(html, where).not.toMatch(/href="javascript:/i);
}

/** A project whose topic labels, subscriber name and digest fields all carry markup. */
async function hostileProject(): Promise<string> {
  const dir = await makeProject();
  const topics = JSON.parse(await readFile(join(ROOT, 'topics.json'), 'utf8'));
  topics.topics[0].label = `Reasoning ${IMG}`;
  topics.topics[0].description = `Thinking ${SCRIPT}`;
  topics.model = join(ROOT, topics.model);
  await writeFile(join(dir, 'topics.json'), JSON.stringify(topics));
  const subscribers = JSON.parse(await readFile(join(dir, 'subscribers.json'), 'utf8'));
  subscribers.subscribers.push({ email: HOSTILE, name: `Eve ${SCRIPT}`, status: 'active', topics: [], authors: ['Ana López', `Bob ${IMG}`], keywords: [] });
  await writeFile(join(dir, 'subscribers.json'), JSON.stringify(subscribers));
  const digest = join(dir, 'digests/2025-11.md');
  await writeFile(
    digest,
    `${await readFile(digest, 'utf8')}
## 2025-11-14

### Reasoning with images ${IMG}

**Authors:** Ana López, ${SCRIPT}

**Link:** https://arxiv.org/pdf/2511.99999

**Motivation:**

Visual chain-of-thought reasoning ${IMG} [click](javascript:alert(1)).

**Method:**

We reason ${SCRIPT} with images.

**Abstract:**

Multimodal reasoning "><svg onload=alert(1)> benchmark.
`,
  );
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  await configure(dir, { paths: { ...config.paths, topics: 'topics.json' } });
  return dir;
}

describe('markup from a digest, a subscriber or topics.json is text in every page and email', () => {
  it('the web pages: subscribe (topic labels), preferences and unsubscribe (name, authors)', async () => {
    const dir = await hostileProject();
    web = await startApp(dir);
    const links = recipientLinks({ baseUrl: 'https://digest.example.org', secret: TEST_SECRET, ttlDays: 365 }, HOSTILE, new Date(), 0);
    for (const path of ['/subscribe', links.manageUrl, links.unsubscribeUrl]) {
      const res = await web.get(path);
      expect(res.status, path).toBe(200);
      const html = await res.text();
      expectInert(html, path);
      expect(html).toMatch(/Reasoning &lt;img|Eve &lt;script&gt;|eve@example\.org/);
    }
  });

  it('the email of a run (greeting, paper fields, topic labels), the archive and its feeds, and the preview pages', async () => {
    const dir = await hostileProject();
    const run = await cli(dir, ['run', '--section', '2025-11-14']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const folder = join(dir, 'outbox/2025-11-14');
    const files = (await readdir(folder)).filter((f) => f.endsWith('.eml'));
    expect(files, run.stderr).toContain('eve_at_example.org.eml');
    for (const file of files) {
      const mail = await simpleParser(await readFile(join(folder, file)));
      expectInert(String(mail.html), file);
      // Headers: no line break from a title or a name reaches Subject: or To:.
      expect(mail.subject).not.toMatch(/[\r\n]/);
      expect(mail.headers.has('bcc')).toBe(false);
    }
    const eve = await simpleParser(await readFile(join(folder, 'eve_at_example.org.eml')));
    expect(String(eve.html)).toContain('&lt;script&gt;');

    // The public archive and feeds of the section just sent.
    web = await startApp(dir);
    for (const path of ['/archive', '/archive/2025-11-14', '/feeds/all.atom', '/feeds/reasoning.atom']) {
      const res = await web.get(path);
      expect(res.status, path).toBe(200);
      const body = await res.text();
      expectInert(body, path);
      expect(body, path).toMatch(/Reasoning with images/);
    }

    // The preview of the same project: its digest, topics, templates and database.
    const paths = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).paths;
    preview = await startPreview({ paths: Object.fromEntries(Object.entries(paths).map(([k, v]) => [k, resolve(dir, String(v))])) });
    for (const path of ['/', '/section/2025-11-14', `/section/2025-11-14?subscriber=${HOSTILE}`, '/email/2025-11-14/html?topics=reasoning']) {
      const res = await fetch(`${preview.url}${path}`);
      expect(res.status, path).toBe(200);
      expectInert(await res.text(), path);
    }
  });
});

describe('SNS hosts', () => {
  it('a trusted host written plainly in webhooks.ses.trustedHosts matches only itself, over https', () => {
    const trust = { trustedHosts: ['sns.eu-west-1.amazonaws.com', '^sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$'].map(hostPattern), allowHttp: false, topicArns: [] };
    expect(isTrustedUrl('https://sns.eu-west-1.amazonaws.com/cert.pem', trust)).toBe(true);
    expect(isTrustedUrl('https://sns.cn-north-1.amazonaws.com.cn/cert.pem', trust)).toBe(true);
    for (const url of [
      'https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem',
      'https://snsXeu-west-1Xamazonaws.com/cert.pem',
      'https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem',
      'https://sns.eu-west-1.amazonaws.com.cn.evil.example/',
      'http://sns.eu-west-1.amazonaws.com/cert.pem',
    ]) {
      expect(isTrustedUrl(url, trust), url).toBe(false);
    }
  });
});

describe('slow and curious clients against serve', () => {
  it('closes a connection that dribbles its request (slowloris) within web.requestTimeoutMs', async () => {
    const dir = await makeProject();
    await configure(dir, { web: { requestTimeoutMs: 1000 } });
    web = await startApp(dir);
    const { port } = new URL(web.url);
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const started = Date.now();
    socket.write('POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n');
    const drip = setInterval(() => socket.writable && socket.write('a'), 200);
    const timeout = new Promise<number>((resolve) => setTimeout(() => resolve(-1), scaled(15_000)));
    const at = await Promise.race([closed, timeout]);
    clearInterval(drip);
    socket.destroy();
    expect(at, 'the server kept the dribbling connection open').not.toBe(-1);
    expect(at - started).toBeGreaterThanOrEqual(900);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect((await web.get('/healthz')).status).toBe(200);
  });

  it('answers 404 to path traversal in every route with a parameter (archive, feeds) and never serves a file', async () => {
    const dir = await makeProject();
    web = await startApp(dir);
    for (const path of [
      '/archive/..%2F..%2F..%2Fetc%2Fpasswd', '/archive/%2e%2e%2fconfig.json', '/archive/2025-11-13%00.json', '/archive/../config.json',
      '/feeds/..%2Fconfig.json', '/feeds/..%2F..%2Fpackage.json%00.atom', '/feeds/%2e%2e%2fall.atom', '/feeds/all.atom%2F..%2F..%2Fconfig.json',
      '/style.css/..%2F..%2Fconfig.json', '/..%2Fsubscribers.json', '/%2e%2e/%2e%2e/etc/passwd',
    ]) {
      const res = await fetch(`${web.url}${path}`, { redirect: 'manual' });
      const body = await res.text();
      expect([400, 404], `${path} -> ${res.status}`).toContain(res.status);
      expect(body, path).not.toMatch(/root:x:0|"subscribers"|"transport"|"dependencies"/);
    }
  });

  it('sends Referrer-Policy: no-referrer on every page and never logs a token', async () => {
    const dir = await makeProject();
    const port = 20000 + Math.floor(Math.random() * 20000);
    const server = spawnCli(dir, ['serve', '--port', String(port)], { DIGEST_MAILER_SECRET: TEST_SECRET });
    try {
      await waitFor(() => /listening|Server listening/i.test(server.output().stdout + server.output().stderr), 60_000, 'serve to listen');
      const links = recipientLinks({ baseUrl: `http://127.0.0.1:${port}`, secret: TEST_SECRET, ttlDays: 365 }, 'ana.lopez@example.org', new Date(), 0);
      const tokens = [new URL(links.manageUrl).searchParams.get('token')!, new URL(links.unsubscribeUrl).searchParams.get('token')!];
      for (const url of [`http://127.0.0.1:${port}/subscribe`, links.manageUrl, links.unsubscribeUrl, `http://127.0.0.1:${port}/confirm?token=${tokens[0]}`, `http://127.0.0.1:${port}/nowhere?token=${tokens[1]}`]) {
        const res = await fetch(url, { redirect: 'manual' });
        expect(res.headers.get('referrer-policy'), url).toBe('no-referrer');
      }
      await fetch(links.unsubscribeUrl, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      await waitFor(() => (server.output().stdout.match(/"url":"\/unsubscribe"/g) ?? []).length >= 2, 30_000, 'request log lines');
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    const { stdout, stderr } = server.output();
    expect(stdout).toMatch(/"url":"\/preferences"/);
    for (const secretPart of [TEST_SECRET]) expect(stdout + stderr).not.toContain(secretPart);
    expect(stdout + stderr).not.toMatch(/token=|v1\.[\w-]{20,}/);
  });
});
