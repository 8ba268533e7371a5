import { describe, expect, it } from 'vitest';
import { TurnGate } from '../../src/web/turns.js';

describe('TurnGate', () => {
  it('lets waiters through in arrival order, at most perTurn per turn of the event loop, never in the same turn', async () => {
    const gate = new TurnGate(3);
    const released: { id: number; turn: number }[] = [];
    let turn = 0;
    // Counts turns: an immediate that queues the next one runs once per turn of the loop.
    let counting = true;
    const tick = () => {
      turn++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const waits = Array.from({ length: 8 }, (_, id) => gate.wait().then(() => void released.push({ id, turn })));
    expect(released).toEqual([]);
    await Promise.all(waits);
    counting = false;
    expect(released.map((r) => r.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const perTurn = new Map<number, number>();
    for (const r of released) perTurn.set(r.turn, (perTurn.get(r.turn) ?? 0) + 1);
    expect([...perTurn.values()]).toEqual([3, 3, 2]);
  });

  it('lets a lone waiter through on the next turn', async () => {
    const gate = new TurnGate(1);
    let through = false;
    const wait = gate.wait().then(() => (through = true));
    await Promise.resolve();
    expect(through).toBe(false);
    await wait;
    expect(through).toBe(true);
  });
});
