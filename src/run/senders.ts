import { setTimeout as sleep } from 'node:timers/promises';
import type { Store } from '../store/store.js';
import type { ClaimedDelivery } from '../store/types.js';

/** How one sender takes its share of a section: batch size, lease, how often to look again. */
export interface SenderSettings {
  /** Recipients claimed at once. */
  batchSize: number;
  /** Messages in flight at once within this process. */
  concurrency: number;
  /** A claim lives this long unless renewed; renewed every third of it while the batch is worked. */
  leaseMs: number;
  /** While other senders hold claims (or the planner is still queueing), look again this often. */
  pollMs: number;
}

export interface SenderLoop extends SenderSettings {
  store: Store;
  issue: string;
  /** This sender's claim owner id (`host:pid:random`, see owner.ts). */
  owner: string;
  /** Sends one claimed recipient and awaits its recorded outcome; false leaves it pending. */
  send: (delivery: ClaimedDelivery) => Promise<boolean>;
  /** True once this sender should take no more (SIGTERM, daily quota, a failing session). */
  stopped: () => boolean;
  /** True while another process is still queueing this section's recipients (its planner lease). */
  planning: () => Promise<boolean>;
  /** Claims of an owner this says is dead (a killed process on this host) are taken over at once. */
  isDeadOwner: (owner: string) => boolean;
  now?: () => Date;
  /** Reports a lease renewal that failed (the claims may expire and be taken over). */
  onRenewError?: (err: unknown) => void;
}

/**
 * The send step of one sender, alone or beside others (several processes or machines on
 * PostgreSQL): claim a batch (FOR UPDATE SKIP LOCKED, disjoint from other senders'), send it,
 * renew the claims' lease while working, repeat. When nothing is left to claim it does not stop
 * while other senders still hold claims or the planner is still queueing: a claim of a sender
 * that died expires (or, on this host, is recognised as dead at once) and is taken over here,
 * so nobody is missed; only what the dead sender had in flight can go out twice, with the
 * same Message-ID. Returns how many recipients this sender left pending (it stopped early).
 * Sends run `concurrency` at a time across batches: the next batch is claimed once the last of
 * the current one has started, so the slowest sends of a batch do not hold up the next.
 */
export async function runSender(loop: SenderLoop): Promise<{ pending: number }> {
  const now = loop.now ?? (() => new Date());
  let pending = 0;
  // Sends under way; the next batch is claimed as soon as the last of this one has started, so
  // the queue never drains to nothing between batches (a batch's slowest send held up the next).
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | null = null;
  const start = (delivery: ClaimedDelivery) => {
    const sending: Promise<void> = loop.send(delivery).then(
      (done) => {
        if (!done) pending++;
      },
      (error: unknown) => {
        failure ??= { error };
      },
    ).finally(() => inFlight.delete(sending));
    inFlight.add(sending);
  };
  const drain = () => Promise.all(inFlight);
  // Every claim this sender holds (sending or waiting its turn) keeps its lease.
  const renewal = setInterval(() => {
    loop.store.renewClaims(loop.issue, loop.owner, now(), loop.leaseMs).catch((err: unknown) => loop.onRenewError?.(err));
  }, Math.max(50, Math.floor(loop.leaseMs / 3)));
  try {
    while (!loop.stopped() && !failure) {
      const batch = await loop.store.claimDeliveries({ issue: loop.issue, owner: loop.owner, limit: loop.batchSize, now: now(), ttlMs: loop.leaseMs });
      if (batch.length === 0) {
        // Nothing left to claim: once this sender's own sends are done, it waits while others
        // still work on the section (their claims, or the planner still queueing).
        await drain();
        if (failure) break;
        if (await othersStillWorking(loop, now, pending)) {
          await sleep(loop.pollMs);
          continue;
        }
        break;
      }
      for (const delivery of batch) {
        while (inFlight.size >= loop.concurrency) await Promise.race(inFlight);
        if (failure) break;
        start(delivery);
      }
    }
    await drain();
    if (failure) throw (failure as { error: unknown }).error;
  } finally {
    clearInterval(renewal);
    // What this sender claimed but did not finish (a stop) goes back to the queue at once.
    await loop.store.releaseClaims(loop.issue, loop.owner);
  }
  return { pending };
}

/**
 * Whether this sender must wait for others: claims held by another sender (alive, or dead but
 * not yet expired), or a planner still queueing. Claims of dead local processes are freed now;
 * `ownHeld` claims are this sender's own pending ones, released when it returns.
 */
async function othersStillWorking(loop: SenderLoop, now: () => Date, ownHeld: number): Promise<boolean> {
  await loop.store.resetStaleClaims(loop.issue, now(), loop.isDeadOwner);
  const counts = await loop.store.countDeliveries(loop.issue);
  if (counts.queued > 0) return true;
  if (counts.claimed > ownHeld) return true;
  return loop.planning();
}
