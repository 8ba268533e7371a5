import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { signToken } from '../../src/tokens/tokens.js';
import { TEST_SECRET, makeProject } from '../cli/cli-helpers.js';
import { entry, startApp, type RunningApp } from './web-helpers.js';

const EMAIL = 'ana.lopez@example.org';
let web: RunningApp | null = null;
let dir: string | null = null;
afterEach(async () => {
  await web?.close();
  web = null;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = null;
});

async function open() {
  dir = await makeProject();
  web = await startApp(dir);
  const token = signToken(TEST_SECRET, { email: EMAIL, purpose: 'manage', expires: Math.floor(Date.now() / 1000) + 3600 });
  return { token, app: web, project: dir };
}

/** The text of the error paragraph shown on a field, or null. */
function fieldError(page: string, field: string): string | null {
  const match = new RegExp(`<p class="field-error" id="${field}-error"[^>]*>([^<]*)</p>`).exec(page);
  return match ? match[1]!.replace(/&quot;/g, '"').replace(/&#x27;/g, "'") : null;
}

describe('preference centre validation (real HTTP on 127.0.0.1)', () => {
  it('refuses a topic both included and excluded, with the message on the field, and saves nothing', async () => {
    const { token, app, project } = await open();
    const before = await entry(project, EMAIL);
    const res = await app.post('/preferences', { token, topics: ['rl', 'video'], excludeTopics: ['rl'], authors: '', keywords: '' });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(fieldError(page, 'excludeTopics')).toMatch(/"rl" is both in the topics to receive and the topics never to receive/);
    expect(fieldError(page, 'topics')).toBeNull();
    expect(await entry(project, EMAIL)).toEqual(before);
  });

  it('removes duplicate topics, authors (case, accents, dots) and keywords instead of storing them hundreds of times', async () => {
    const { token, app, project } = await open();
    const authors = Array.from({ length: 300 }, (_, i) => ['Ana López', 'ana lopez', 'ANA LÓPEZ', 'A. Smith', 'a smith'][i % 5]).join('\n');
    const res = await app.post('/preferences', {
      token,
      topics: Array.from({ length: 800 }, () => 'rl'),
      excludeTopics: ['video', 'video'],
      authors,
      keywords: 'Diffusion\ndiffusion\n  DIFFUSION  \nagents',
    });
    expect(res.status).toBe(303);
    const saved = await entry(project, EMAIL);
    expect(saved.topics).toEqual(['rl']);
    expect(saved.excludeTopics).toEqual(['video']);
    expect(saved.authors).toEqual(['Ana López', 'A. Smith']);
    expect(saved.keywords).toEqual(['Diffusion', 'agents']);
  });

  it('caps the size of a list after duplicates are gone, naming the field', async () => {
    const { token, app } = await open();
    const authors = Array.from({ length: 51 }, (_, i) => `Author Number ${i}`).join('\n');
    const res = await app.post('/preferences', { token, authors, keywords: '' });
    expect(res.status).toBe(400);
    expect(fieldError(await res.text(), 'authors')).toMatch(/at most 50/);
  });

  it('saves cadence, weekday, hour, time zone and pause, shows them, and clears a field sent empty', async () => {
    const { token, app, project } = await open();
    const res = await app.post('/preferences', { token, authors: '', keywords: '', cadence: 'weekly', weekday: 'friday', hour: '6', timeZone: 'Europe/Berlin', pausedUntil: '2099-01-04' });
    expect(res.status).toBe(303);
    const saved = await entry(project, EMAIL);
    expect(saved).toMatchObject({ cadence: 'weekly', weekday: 'friday', hour: 6, timeZone: 'Europe/Berlin', pausedUntil: '2099-01-04' });
    const page = await (await app.get(`/preferences?token=${token}`)).text();
    expect(page).toMatch(/id="cadence-weekly" name="cadence" value="weekly" checked/);
    expect(page).toMatch(/<option value="friday" selected>/);
    expect(page).toMatch(/<option value="6" selected>06:00/);
    expect(page).toContain('value="Europe/Berlin"');
    expect(page).toContain('value="2099-01-04"');

    // A form without the delivery fields (an older page) keeps them; an empty one clears it.
    expect((await app.post('/preferences', { token, topics: 'rl', authors: '', keywords: '' })).status).toBe(303);
    expect(await entry(project, EMAIL)).toMatchObject({ cadence: 'weekly', hour: 6, timeZone: 'Europe/Berlin' });
    expect((await app.post('/preferences', { token, authors: '', keywords: '', cadence: 'daily', timeZone: '', hour: '', pausedUntil: '' })).status).toBe(303);
    const cleared = await entry(project, EMAIL);
    expect(cleared.cadence).toBe('daily');
    expect(cleared.timeZone).toBeUndefined();
    expect(cleared.hour).toBeUndefined();
    expect(cleared.pausedUntil).toBeUndefined();
  });

  it('refuses an unknown zone, an hour out of range, a bad date, a past pause and an unknown cadence, each on its field', async () => {
    const { token, app, project } = await open();
    const before = await entry(project, EMAIL);
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ timeZone: 'Mars/Olympus' }, 'timeZone', /IANA time zone/],
      [{ hour: '24' }, 'hour', /0 to 23/],
      [{ hour: 'seven' }, 'hour', /0 to 23/],
      [{ pausedUntil: '04/01/2099' }, 'pausedUntil', /YYYY-MM-DD/],
      [{ pausedUntil: '2020-01-01' }, 'pausedUntil', /in the past/],
      [{ cadence: 'hourly' }, 'cadence', /daily or weekly/],
      [{ weekday: 'someday' }, 'weekday', /day of the week/],
    ];
    for (const [fields, field, message] of cases) {
      const res = await app.post('/preferences', { token, authors: '', keywords: '', ...fields });
      expect(res.status, field).toBe(400);
      expect(fieldError(await res.text(), field), field).toMatch(message);
    }
    expect(await entry(project, EMAIL)).toEqual(before);
  });

  it('saves the email format, shows it, keeps it when not sent and clears it with "automatic"', async () => {
    const { token, app, project } = await open();
    const first = await (await app.get(`/preferences?token=${token}`)).text();
    expect(first).toMatch(/id="format-auto" name="format" value="auto" checked/);
    expect((await app.post('/preferences', { token, authors: '', keywords: '', format: 'full' })).status).toBe(303);
    expect((await entry(project, EMAIL)).format).toBe('full');
    const page = await (await app.get(`/preferences?token=${token}`)).text();
    expect(page).toMatch(/id="format-full" name="format" value="full" checked/);
    expect(page).not.toMatch(/value="auto" checked/);
    expect((await app.post('/preferences', { token, authors: '', keywords: '' })).status).toBe(303);
    expect((await entry(project, EMAIL)).format).toBe('full');
    expect((await app.post('/preferences', { token, authors: '', keywords: '', format: 'auto' })).status).toBe(303);
    expect((await entry(project, EMAIL)).format).toBeUndefined();
    const bad = await app.post('/preferences', { token, authors: '', keywords: '', format: 'huge' });
    expect(bad.status).toBe(400);
    expect(fieldError(await bad.text(), 'format')).toMatch(/automatic, full or compact/);
  });

  it('explains the author format on the page', async () => {
    const { token, app } = await open();
    const page = await (await app.get(`/preferences?token=${token}`)).text();
    expect(page).toMatch(/One name per line, as it appears in the digest/);
    expect(page).toMatch(/Case, accents and dots do not matter/);
  });
});
