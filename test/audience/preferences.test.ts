import { describe, expect, it } from 'vitest';
import { readerTiming } from '../../src/audience/preferences.js';
import { subscriberSchema } from '../../src/audience/schema.js';

const base = { email: 'reader@example.org' };

describe('subscriber preferences schema', () => {
  it('keeps today behaviour when no delivery field is set', () => {
    const parsed = subscriberSchema.parse(base);
    expect(parsed.cadence).toBeUndefined();
    expect(readerTiming(parsed)).toEqual({ cadence: 'daily', weekday: 1, timeZone: undefined, hour: undefined, pausedUntil: undefined });
  });

  it('accepts cadence, weekday, zone, hour and pause, and maps them for the cadence rules', () => {
    const parsed = subscriberSchema.parse({ ...base, cadence: 'weekly', weekday: 'friday', timeZone: 'America/New_York', hour: 6, pausedUntil: '2026-04-02' });
    expect(readerTiming(parsed)).toEqual({ cadence: 'weekly', weekday: 5, timeZone: 'America/New_York', hour: 6, pausedUntil: '2026-04-02' });
  });

  it('names the key of a bad zone, hour or date', () => {
    for (const [key, value] of [['timeZone', 'Europe/Nowhere'], ['hour', 24], ['pausedUntil', '2026-13-01'], ['cadence', 'monthly'], ['weekday', 'funday']] as const) {
      const result = subscriberSchema.safeParse({ ...base, [key]: value });
      expect(result.success, key).toBe(false);
      expect(result.error?.issues[0]?.path, key).toEqual([key]);
    }
  });

  it('refuses a topic both included and excluded, on excludeTopics', () => {
    const result = subscriberSchema.safeParse({ ...base, topics: ['rl', 'video'], excludeTopics: ['video'] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['excludeTopics']);
    expect(result.error?.issues[0]?.message).toMatch(/"video" is both/);
  });

  it('drops duplicates before the size cap', () => {
    const parsed = subscriberSchema.parse({ ...base, topics: Array(1500).fill('rl'), authors: ['Ana López', 'ana lopez', 'Ana  López'], keywords: ['LLM', 'llm'] });
    expect(parsed.topics).toEqual(['rl']);
    expect(parsed.authors).toEqual(['Ana López']);
    expect(parsed.keywords).toEqual(['LLM']);
    const tooMany = subscriberSchema.safeParse({ ...base, keywords: Array.from({ length: 101 }, (_, i) => `word ${i}`) });
    expect(tooMany.success).toBe(false);
    expect(tooMany.error?.issues[0]?.path[0]).toBe('keywords');
  });
});
