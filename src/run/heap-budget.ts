import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Keeps a long send's memory (JavaScript heap and Buffers) near what it holds. V8 lets garbage
 * pile up to several times the live heap before a full collection (a 100,000-recipient send
 * reached 370 MB of heap for about 120 MB live); a collection when heap and Buffers together
 * pass the budget keeps peak memory flat whatever the list size, for a few milliseconds per
 * collection. DM_HEAP_LOG=1 writes a line to stderr for each collection it asks for.
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
    // Buffers count too: a message's bytes (and nodemailer's copies of them) live outside the
    // JavaScript heap, in memory only a collection of their small wrappers gives back (at
    // 10,000 recipients 30 to 70 MB of them waited beside a heap held at the budget).
    const heap = getHeapStatistics();
    if (heap.used_heap_size + heap.external_memory > this.bytes) {
      this.gc();
      this.collections++;
      if (process.env.DM_HEAP_LOG) {
        const after = getHeapStatistics();
        console.error(`heap budget: collection ${this.collections}, ${mb(heap.used_heap_size)} + ${mb(heap.external_memory)} MB external -> ${mb(after.used_heap_size)} + ${mb(after.external_memory)} MB`);
      }
    }
  }
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(0);

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
