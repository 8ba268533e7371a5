import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { DEVELOPMENT_SECRET, resolveSecret, secretWeakness } from '../../src/tokens/secret.js';
import { recipientLinks, verifyLink } from '../../src/tokens/links.js';
import { signToken } from '../../src/tokens/tokens.js';
import { TEST_SECRET, cli, makeProject } from '../cli/cli-helpers.js';
import { entry, linkIn, startApp, type RunningApp } from '../web/web-helpers.js';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { selectPapers } from '../../src/audience/select.js';
import { renderEmail } from '../../src/render/render.js';
import { compileTemplates, readTemplateSources } from '../../src/render/templates.js';
import { renderSettings } from '../../src/run/context.js';
import { composeFor } from '../../src/run/deliver.js';
import { NO_PREFS, classified, seedSections, seedTaxonomy } from '../helpers.js';
import { withProjectStore } from '../store/project-store.js';

const NEW_SECRET = 'vQ0a7yKx2m9Pz4RbT8sWc1LdJ6nHf3GqE5uVi0oYkXA';
let web: RunningApp | null = null;
afterEach(async () => {
  await web?.close();
  web = null;
});

const oneClick = (app: RunningApp, token: string) => app.post(`/unsubscribe?token=${token}`, 'List-Unsubscribe=One-Click');
const unsubscribeToken = (secret: string, email: string, extra: { linkGeneration?: number } = {}) =>
  signToken(secret, { email, purpose: 'unsubscribe', expires: Math.floor(Date.now() / 1000) + 3600, ...extra });

describe('finding 8: development and weak secrets', () => {
  it('serve with the outbox transport refuses to start without a secret (forged one-click unsubscribes)', async () => {
    const dir = await makeProject();
    const run = await cli(dir, ['serve', '--port', '0']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/DIGEST_MAILER_SECRET \(tokens\.secretEnv\) is not set.*serve.*verifies/);
  });

  it('refuses the development secret, even set explicitly, for every use', () => {
    for (const use of ['local', 'real-mail', 'serve'] as const) {
      expect(() => resolveSecret({ S: DEVELOPMENT_SECRET }, 'S', use)).toThrow(/public development secret/);
    }
    // Only links written to local files nobody serves fall back to it when nothing is set.
    expect(resolveSecret({}, 'S', 'local').development).toBe(true);
    expect(() => resolveSecret({}, 'S', 'serve')).toThrow(/is not set/);
  });

  it('refuses secrets without 32 bytes of real entropy and accepts every random 32 bytes', () => {
    const weak = ['x'.repeat(32), 'a'.repeat(64), 'abababababababababababababababab', '0123456789'.repeat(4), 'test-secret-0123456789-0123456789-0123456789', 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ', 'short'];
    for (const value of weak) {
      expect(secretWeakness(value), value).not.toBeNull();
      expect(() => resolveSecret({ S: value }, 'S', 'real-mail'), value).toThrow(/the token secret in S /);
    }
    for (let i = 0; i < 300; i++) {
      for (const encoding of ['hex', 'base64', 'base64url'] as const) {
        const value = randomBytes(32).toString(encoding);
        expect(secretWeakness(value), value).toBeNull();
      }
    }
  });
});

describe('secret rotation', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const env = (until: string | undefined) => ({ S: NEW_SECRET, S_PREVIOUS: TEST_SECRET, ...(until ? { S_PREVIOUS_UNTIL: until } : {}) });

  it('signs with the new secret and verifies old links until the grace period ends', () => {
    const source = resolveSecret(env('2026-07-01'), 'S', 'serve', now);
    expect(source.secret).toBe(NEW_SECRET);
    expect(source.previous).toEqual({ secret: TEST_SECRET, until: new Date('2026-07-01') });
    const settings = { baseUrl: 'https://x.example', ttlDays: 365, secret: source.secret, previous: source.previous };
    const oldToken = unsubscribeToken(TEST_SECRET, 'ana@example.org');
    const newLink = recipientLinks(settings, 'ana@example.org', now).unsubscribeUrl;
    const newToken = new URL(newLink).searchParams.get('token')!;
    expect(verifyLink({ secret: NEW_SECRET }, newToken, 'unsubscribe', now).ok).toBe(true);
    expect(verifyLink({ secret: TEST_SECRET }, newToken, 'unsubscribe', now).ok).toBe(false);
    expect(verifyLink(settings, oldToken, 'unsubscribe', now).ok).toBe(true);
    expect(verifyLink(settings, oldToken, 'unsubscribe', new Date('2026-07-01T00:00:01Z'))).toEqual({ ok: false, reason: 'bad-signature' });
    // Started after the date: the old secret is not even loaded.
    expect(resolveSecret(env('2026-05-01'), 'S', 'serve', now).previous).toBeUndefined();
  });

  it('needs an end date, a strong previous secret different from the new one', () => {
    expect(() => resolveSecret(env(undefined), 'S', 'serve', now)).toThrow(/S_PREVIOUS_UNTIL must say until when/);
    expect(() => resolveSecret(env('next month'), 'S', 'serve', now)).toThrow(/S_PREVIOUS_UNTIL/);
    expect(() => resolveSecret({ S: NEW_SECRET, S_PREVIOUS: 'z'.repeat(40), S_PREVIOUS_UNTIL: '2026-07-01' }, 'S', 'serve', now)).toThrow(/S_PREVIOUS uses only 1/);
    expect(() => resolveSecret({ S: NEW_SECRET, S_PREVIOUS: NEW_SECRET, S_PREVIOUS_UNTIL: '2026-07-01' }, 'S', 'serve', now)).toThrow(/same as S/);
    expect(() => resolveSecret({ S_PREVIOUS: TEST_SECRET, S_PREVIOUS_UNTIL: '2026-07-01' }, 'S', 'local', now)).toThrow(/S_PREVIOUS is set but S is not/);
  });

  it('the web app honours an old one-click link during the grace period and refuses it after', async () => {
    const dir = await makeProject();
    let clock = new Date('2026-06-01T00:00:00Z');
    web = await startApp(dir, { now: () => clock, links: { secret: NEW_SECRET, previous: { secret: TEST_SECRET, until: new Date('2026-07-01T00:00:00Z') } } });
    const oldToken = signToken(TEST_SECRET, { email: 'ana.lopez@example.org', purpose: 'unsubscribe', expires: Math.floor(clock.getTime() / 1000) + 86_400 * 90 });
    const forged = signToken(randomBytes(32).toString('hex'), { email: 'fatima.zahra@example.org', purpose: 'unsubscribe', expires: Math.floor(clock.getTime() / 1000) + 3600 });
    expect((await oneClick(web, forged)).status).toBe(403);
    clock = new Date('2026-07-02T00:00:00Z');
    expect((await oneClick(web, oldToken)).status).toBe(403);
    expect(await entry(dir, 'ana.lopez@example.org')).toMatchObject({ status: 'active' });
    clock = new Date('2026-06-15T00:00:00Z');
    expect((await oneClick(web, oldToken)).status).toBe(200);
    expect(await entry(dir, 'ana.lopez@example.org')).toMatchObject({ status: 'unsubscribed' });
  });
});

describe('revocation', () => {
  it('subscribers revoke-links makes every earlier manage and unsubscribe link stop working; new links work', async () => {
    const dir = await makeProject();
    const email = 'ana.lopez@example.org';
    const before = unsubscribeToken(TEST_SECRET, email);
    const manage = signToken(TEST_SECRET, { email, purpose: 'manage', expires: Math.floor(Date.now() / 1000) + 3600 });
    const revoked = await cli(dir, ['subscribers', 'revoke-links', email]);
    expect(revoked.code, revoked.stderr).toBe(0);
    web = await startApp(dir);
    expect((await web.get(`/preferences?token=${manage}`)).status).toBe(403);
    const refused = await oneClick(web, before);
    expect(refused.status).toBe(403);
    expect(await entry(dir, email)).toMatchObject({ status: 'active' });
    // The next email's links (composed as a run does, from the stored subscriber) work.
    const config = await loadConfig(join(dir, 'config.json'));
    const stored = (await withProjectStore(dir, (store) => store.getSubscriber(email)))!;
    expect(stored.tokenGeneration).toBe(1);
    const section = seedSections()[7]!;
    const templates = compileTemplates(await readTemplateSources(config.paths.templates));
    const rendered = await renderEmail(templates, config.paths.templates, section, selectPapers(classified(section), NO_PREFS), renderSettings(config, seedTaxonomy()));
    const message = await composeFor(config, rendered, section, stored, { baseUrl: config.baseUrl, secret: TEST_SECRET, ttlDays: 365 }, new Date());
    const current = new URL(await linkIn(message.raw, '/unsubscribe')).searchParams.get('token')!;
    expect((await oneClick(web, current)).status).toBe(200);
    const after = await entry(dir, email);
    expect(after.status).toBe('unsubscribed');
    expect(after.history.map((h: { event: string }) => h.event)).toContain('links-revoked');
  });
});
