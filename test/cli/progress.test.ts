import { afterEach, describe, expect, it, vi } from 'vitest';
import { PROGRESS_EVERY_MS, createProgress } from '../../src/cli/progress.js';

describe('progress log lines (not on a terminal)', () => {
  afterEach(() => vi.useRealTimers());

  it('come on a timer while a pass waits with no outcome, and stop with it', () => {
    vi.useFakeTimers();
    const lines: { msg: string; fields: Record<string, number> }[] = [];
    const progress = createProgress(false, (fields, msg) => lines.push({ msg, fields }));
    progress.planned(10);
    progress.outcome('sent');
    progress.outcome('skipped');
    // A relay down: nothing more comes back for three intervals, and the log still says where the pass is.
    vi.advanceTimersByTime(3 * PROGRESS_EVERY_MS + 10);
    const progressLines = lines.filter((l) => l.msg === 'progress');
    expect(progressLines).toHaveLength(3);
    expect(progressLines[2]!.fields).toMatchObject({ sent: 1, failed: 0, remaining: 9 });
    progress.outcome('failed');
    progress.stop();
    expect(lines.at(-1)).toMatchObject({ msg: 'delivery finished', fields: { sent: 1, failed: 1, remaining: 8 } });
    vi.advanceTimersByTime(5 * PROGRESS_EVERY_MS);
    expect(lines.filter((l) => l.msg === 'progress')).toHaveLength(3);
  });

  it('says nothing before anything is planned', () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const progress = createProgress(false, (_fields, msg) => lines.push(msg));
    vi.advanceTimersByTime(3 * PROGRESS_EVERY_MS);
    progress.stop();
    expect(lines).toEqual([]);
  });
});
