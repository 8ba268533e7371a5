import { describe, expect, it } from 'vitest';
import { addDays, hourStart, ianaTimeZone, isIanaTimeZone, localDay, weekdayOf } from '../../src/cadence/time.js';

describe('hourStart', () => {
  it('is the local hour on an ordinary day', () => {
    expect(hourStart('2026-06-01', 7, 'Europe/Berlin').toISOString()).toBe('2026-06-01T05:00:00.000Z');
    expect(hourStart('2026-06-01', 7, 'America/New_York').toISOString()).toBe('2026-06-01T11:00:00.000Z');
    expect(hourStart('2026-06-01', 7, 'Asia/Kolkata').toISOString()).toBe('2026-06-01T01:30:00.000Z');
  });

  it('moves an hour the spring change skips to just after the gap', () => {
    // Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z).
    expect(hourStart('2026-03-29', 2, 'Europe/Berlin').toISOString()).toBe('2026-03-29T01:00:00.000Z');
    // New York 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z).
    expect(hourStart('2026-03-08', 2, 'America/New_York').toISOString()).toBe('2026-03-08T07:00:00.000Z');
    // Lord Howe moves by half an hour: 02:00 becomes 02:30 (+11:00).
    expect(hourStart('2026-10-04', 2, 'Australia/Lord_Howe').toISOString()).toBe('2026-10-03T15:30:00.000Z');
  });

  it('takes the first of an hour the autumn change repeats', () => {
    // Berlin 2026-10-25: 02:00-03:00 happens at +02:00 (00:00Z) and again at +01:00 (01:00Z).
    expect(hourStart('2026-10-25', 2, 'Europe/Berlin').toISOString()).toBe('2026-10-25T00:00:00.000Z');
    // New York 2026-11-01: 01:00-02:00 happens at -04:00 (05:00Z) and at -05:00 (06:00Z).
    expect(hourStart('2026-11-01', 1, 'America/New_York').toISOString()).toBe('2026-11-01T05:00:00.000Z');
  });

  it('keeps the hours either side of a change on their own offset', () => {
    expect(hourStart('2026-03-29', 1, 'Europe/Berlin').toISOString()).toBe('2026-03-29T00:00:00.000Z');
    expect(hourStart('2026-03-29', 3, 'Europe/Berlin').toISOString()).toBe('2026-03-29T01:00:00.000Z');
    expect(hourStart('2026-10-25', 3, 'Europe/Berlin').toISOString()).toBe('2026-10-25T02:00:00.000Z');
    expect(hourStart('2026-11-01', 23, 'America/New_York').toISOString()).toBe('2026-11-02T04:00:00.000Z');
  });

  it('refuses an hour or a day that is not one', () => {
    expect(() => hourStart('2026-06-01', 24, 'UTC')).toThrow(RangeError);
    expect(() => hourStart('2026-06-01', 1.5, 'UTC')).toThrow(RangeError);
    expect(() => hourStart('2026-02-30', 7, 'UTC')).toThrow(/calendar day/);
    expect(() => hourStart('1 June', 7, 'UTC')).toThrow(/calendar day/);
  });
});

describe('calendar helpers', () => {
  it('reads the local day in the zone', () => {
    const instant = new Date('2026-03-29T23:30:00Z');
    expect(localDay(instant, 'UTC')).toBe('2026-03-29');
    expect(localDay(instant, 'Europe/Berlin')).toBe('2026-03-30');
    expect(localDay(instant, 'America/New_York')).toBe('2026-03-29');
  });

  it('adds days across month ends and DST days without drifting', () => {
    expect(addDays('2026-03-28', 1)).toBe('2026-03-29');
    expect(addDays('2026-03-29', 1)).toBe('2026-03-30');
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
    expect(addDays('2028-03-01', -1)).toBe('2028-02-29');
    expect(weekdayOf('2026-03-30')).toBe(1);
    expect(weekdayOf('2026-03-29')).toBe(7);
  });

  it('knows IANA zones and says what to write otherwise', () => {
    expect(isIanaTimeZone('Europe/Berlin')).toBe(true);
    expect(isIanaTimeZone('UTC')).toBe(true);
    expect(isIanaTimeZone('Mars/Olympus')).toBe(false);
    expect(isIanaTimeZone('')).toBe(false);
    const result = ianaTimeZone.safeParse('Europe/Berlinn');
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/IANA time zone/);
  });
});
