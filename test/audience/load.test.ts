import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSubscribers } from '../../src/audience/load.js';
import { ROOT } from '../helpers.js';

const topics = new Set(['video', 'rl', 'reasoning']);

describe('subscriber list', () => {
  it('loads the example file with its varied preferences', () => {
    const raw = JSON.parse(readFileSync(join(ROOT, 'subscribers.example.json'), 'utf8'));
    const all = new Set(JSON.parse(readFileSync(join(ROOT, 'topics.json'), 'utf8')).topics.map((t: { id: string }) => t.id));
    const { subscribers, problems } = parseSubscribers(raw, 'subscribers.example.json', all as Set<string>);
    expect(problems).toEqual([]);
    expect(subscribers.length).toBeGreaterThanOrEqual(8);
    expect(subscribers.some((s) => s.topics.length === 0 && s.authors.length === 0 && s.keywords.length === 0)).toBe(true);
    expect(subscribers.some((s) => s.excludeTopics.length > 0)).toBe(true);
    expect(subscribers.some((s) => s.authors.length > 0)).toBe(true);
    expect(subscribers.some((s) => s.keywords.length > 0)).toBe(true);
    expect(new Set(subscribers.map((s) => s.status))).toEqual(new Set(['active', 'unsubscribed', 'bounced']));
    for (const s of subscribers) expect(s.email).toMatch(/@example\.(org|com)$/);
  });

  it('reports each bad entry by index, address and field, and keeps the good ones', () => {
    const { subscribers, problems } = parseSubscribers(
      {
        subscribers: [
          { email: 'good@example.org' },
          { email: 'not-an-address' },
          { email: 'bad-topic@example.org', topics: ['video', 'cooking'] },
          { email: 'evil@example.org', name: 'Eve\r\nBcc: victim@example.com' },
          { email: 'GOOD@example.org' },
          { email: 'status@example.org', status: 'maybe' },
        ],
      },
      'subs.json',
      topics,
    );
    expect(subscribers.map((s) => s.email)).toEqual(['good@example.org']);
    expect(problems.map((p) => p.where)).toEqual([
      'subs.json entry #1 (not-an-address)',
      'subs.json entry #2 (bad-topic@example.org)',
      'subs.json entry #3 (evil@example.org)',
      'subs.json entry #4 (GOOD@example.org)',
      'subs.json entry #5 (status@example.org)',
    ]);
    expect(problems[0]!.message).toMatch(/^email: /);
    expect(problems[1]!.message).toMatch(/unknown topic id "cooking"/);
    expect(problems[2]!.message).toMatch(/^name: must be printable text \(no line breaks, control or text-direction characters\)/);
    expect(problems[3]!.message).toMatch(/same address as entry #0/);
    expect(problems[4]!.message).toMatch(/^status: /);
  });

  it('rejects a file that is not a subscriber list', () => {
    expect(() => parseSubscribers([{ email: 'a@b.c' }], 'subs.json', topics)).toThrow(/subs\.json is not a subscriber list/);
  });
});
