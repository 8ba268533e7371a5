import type { Clock } from './flow.js';

/** What the shared limiter needs from the store (Store#reserveSendSlots). */
export type ReserveSlots = (count: number, intervalMs: number) => Promise<{ waitMs: number }>;

/**
 * The configured send rate as a total across every worker process (one machine or several):
 * send times are reserved from one bucket row in the database, a block at a time, and used
 * here one per message. Slots handed to different workers never overlap, so the sum of all
 * workers' rates is the configured rate. A block is at most a quarter second of sending (and
 * at most `maxBlock` messages), so a worker that stops early wastes little of the total.
 *
 * A slot that has already passed by more than `lateMs` (this worker was slower than its share)
 * is dropped rather than used, so a slow worker cannot save up slots and burst them later.
 */
export class SharedRateLimiter {
  private readonly intervalMs: number;
  private readonly block: number;
  /** Reserved send times (local clock), oldest first. */
  private slots: number[] = [];
  private refilling: Promise<void> | null = null;

  constructor(
    private readonly reserve: ReserveSlots,
    ratePerSecond: number,
    private readonly clock: Clock,
    options: { maxBlock?: number; lateMs?: number } = {},
  ) {
    this.intervalMs = 1000 / ratePerSecond;
    this.block = Math.max(1, Math.min(options.maxBlock ?? 64, Math.floor(ratePerSecond / 4)));
    this.lateMs = options.lateMs ?? 250;
  }

  private readonly lateMs: number;

  private async refill(): Promise<void> {
    const { waitMs } = await this.reserve(this.block, this.intervalMs);
    // The database counted from its "now", somewhere in our round trip: counting from the
    // answer only ever sends later than reserved, never earlier.
    const first = this.clock.now() + waitMs;
    for (let i = 0; i < this.block; i++) this.slots.push(first + i * this.intervalMs);
  }

  /** Waits for this worker's next send slot. Concurrent callers each get their own slot. */
  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) return;
      const now = this.clock.now();
      while (this.slots.length > 0 && this.slots[0]! < now - this.lateMs) this.slots.shift();
      const slot = this.slots.shift();
      if (slot !== undefined) {
        if (slot > now) await this.clock.sleep(slot - now, signal);
        return;
      }
      // One reservation at a time; the others wait for it and then take their slots.
      this.refilling ??= this.refill().finally(() => {
        this.refilling = null;
      });
      await this.refilling;
    }
  }
}
