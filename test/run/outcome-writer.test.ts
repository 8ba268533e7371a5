import { describe, expect, it } from 'vitest';
import { OutcomeWriter } from '../../src/run/deliver.js';
import type { Store } from '../../src/store/store.js';
import type { DeliveryOutcome } from '../../src/store/types.js';

/** A store that records each group commit it is asked for. */
function recordingStore(): { store: Store; commits: DeliveryOutcome[][] } {
  const commits: DeliveryOutcome[][] = [];
  const store = { completeDeliveries: async (outcomes: readonly DeliveryOutcome[]) => void commits.push([...outcomes]) } as unknown as Store;
  return { store, commits };
}

const outcome = (id: number): DeliveryOutcome => ({ id, status: 'sent', at: '2025-11-12T07:00:00.000Z' });

describe('OutcomeWriter', () => {
  it('commits outcomes recorded by separate callbacks of one event-loop turn together, each caller after its commit', async () => {
    const { store, commits } = recordingStore();
    const writer = new OutcomeWriter(store);
    // Ten sends finishing in the same turn (their socket events, here timers due together).
    const committed: number[] = [];
    await Promise.all(
      Array.from(
        { length: 10 },
        (_, i) =>
          new Promise<void>((resolve) =>
            setTimeout(() => {
              void writer.record(outcome(i)).then(() => {
                expect(commits.flat().map((o) => o.id)).toContain(i);
                committed.push(i);
                resolve();
              });
            }, 0),
          ),
      ),
    );
    expect(committed).toHaveLength(10);
    expect(commits.flat().map((o) => o.id).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // One outcome per transaction before: each callback's microtasks ran its own commit.
    expect(commits.length).toBeLessThanOrEqual(2);
  });

  it('an outcome recorded while a commit is under way goes into the next one', async () => {
    let release!: () => void;
    const commits: number[][] = [];
    const store = {
      completeDeliveries: async (outcomes: readonly DeliveryOutcome[]) => {
        commits.push(outcomes.map((o) => o.id));
        if (commits.length === 1) await new Promise<void>((r) => (release = r));
      },
    } as unknown as Store;
    const writer = new OutcomeWriter(store);
    const first = writer.record(outcome(1));
    while (commits.length === 0) await new Promise((r) => setImmediate(r));
    const second = writer.record(outcome(2));
    const third = writer.record(outcome(3));
    release();
    await Promise.all([first, second, third]);
    expect(commits).toEqual([[1], [2, 3]]);
  });
});
