import { describe, expect, it } from 'vitest';
import type { Section } from '../../src/digest/types.js';
import type { SectionRecord } from '../../src/ledger/events.js';
import { planSections, todayIn } from '../../src/run/plan.js';

const section = (date: string, papers = 1, hash = `h-${date}`): Section => ({
  date,
  range: null,
  source: `d.md:${date}`,
  hash,
  papers: Array.from({ length: papers }, (_, i) => ({
    id: `${date}-${i}`,
    title: { text: 't', html: 't' },
    authors: [],
    link: null,
    motivation: null,
    method: null,
    abstract: null,
    extra: {},
    source: 'd.md:1',
  })),
});
const rec = (status: SectionRecord['status'], hash?: string): SectionRecord => ({ status, hash: hash ?? '', at: 'x' });
const actions = (plans: ReturnType<typeof planSections>) => Object.fromEntries(plans.map((p) => [p.section.date, `${p.state}:${p.action}`]));

const sections = [section('2025-11-03'), section('2025-11-04', 0), section('2025-11-10'), section('2025-11-13'), section('2099-01-01')];
const today = '2025-11-20';

describe('plan', () => {
  it('first run: sends only the newest section, older ones become before-start, empty and future are held', () => {
    expect(actions(planSections(sections, new Map(), { today, backfill: false }))).toEqual({
      '2025-11-03': 'pending:mark-before-start',
      '2025-11-04': 'empty:mark-empty',
      '2025-11-10': 'pending:mark-before-start',
      '2025-11-13': 'pending:send',
      '2099-01-01': 'future:none',
    });
  });

  it('first run with --backfill sends every past section', () => {
    const plan = actions(planSections(sections, new Map(), { today, backfill: true }));
    expect(plan['2025-11-03']).toBe('pending:send');
    expect(plan['2025-11-10']).toBe('pending:send');
    expect(plan['2099-01-01']).toBe('future:none');
  });

  it('later runs send a new section, never a sent one, and report an edit after sending', () => {
    const records = new Map<string, SectionRecord>([
      ['2025-11-03', rec('before-start')],
      ['2025-11-04', rec('empty')],
      ['2025-11-10', rec('before-start')],
      ['2025-11-13', rec('sent', 'older-hash')],
    ]);
    const plans = planSections([...sections, section('2025-11-14')], records, { today, backfill: false });
    expect(actions(plans)).toMatchObject({
      '2025-11-03': 'before-start:none',
      '2025-11-13': 'sent:none',
      '2025-11-14': 'pending:send',
    });
    expect(plans.find((p) => p.section.date === '2025-11-13')!.changedAfterSend).toBe(true);
  });

  it('resumes sending and failed sections; an old section dropped in later is before-start', () => {
    const records = new Map<string, SectionRecord>([['2025-11-10', rec('sending')], ['2025-11-13', rec('failed')]]);
    expect(actions(planSections([section('2025-10-01'), ...sections], records, { today, backfill: false }))).toMatchObject({
      '2025-10-01': 'pending:mark-before-start',
      '2025-11-03': 'pending:mark-before-start',
      '2025-11-10': 'sending:send',
      '2025-11-13': 'failed:send',
    });
  });

  it('--section picks one section and sends it even if before-start', () => {
    const records = new Map<string, SectionRecord>([['2025-11-03', rec('before-start')]]);
    const plans = planSections(sections, records, { today, backfill: false, only: '2025-11-03' });
    expect(actions(plans)).toEqual({ '2025-11-03': 'before-start:send' });
  });

  it('knows what day it is in the configured time zone', () => {
    const instant = new Date('2025-11-13T23:30:00Z');
    expect(todayIn('UTC', instant)).toBe('2025-11-13');
    expect(todayIn('Europe/Berlin', instant)).toBe('2025-11-14');
    expect(todayIn('America/Los_Angeles', instant)).toBe('2025-11-13');
  });
});
