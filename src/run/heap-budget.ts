import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Keeps a long send's JavaScript heap near what it holds. V8 lets garbage pile up to several
 * times the live heap before a full collection (a 100,000-recipient send reached 370 MB of heap
 * for about 120 MB live); a collection when the heap passes the budget keeps peak memory flat
 * whatever the list size, for a few milliseconds per collection.
 */
export class HeapBudget {
  private calls = 0;
  /** Full collections this budget asked for. */
  collections = 0;
  private readonly gc: (() => void) | null;

  constructor(
    private readonly bytes: number,
    /** How many calls of check() between two looks at the heap (reading its size is not free). */
    private readonly every = 200,
  ) {
    this.gc = collector();
  }

  /** Called once per message (or with how many were handled since). */
  check(handled = 1): void {
    if (!this.gc) return;
    this.calls += handled;
    if (this.calls < this.every) return;
    this.calls = 0;
    if (getHeapStatistics().used_heap_size > this.bytes) {
      this.gc();
      this.collections++;
    }
  }
}

let cached: (() => void) | null | undefined;

/** V8's full collection, made callable at run time (as --expose-gc would). */
function collector(): (() => void) | null {
  if (cached !== undefined) return cached;
  try {
    setFlagsFromString('--expose-gc');
    cached = runInNewContext('gc') as () => void;
  } catch {
    cached = null;
  }
  return cached;
}
