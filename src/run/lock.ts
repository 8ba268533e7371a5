import { hostname } from 'node:os';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { UserError } from '../errors.js';
import { privateDir, writePrivateFile } from '../private-files.js';

export const LOCK_NAME = 'run.lock';

/** Another run holds the lock: the CLI prints the message and exits with EXIT.busy. */
export class LockBusyError extends UserError {}

interface Owner {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * On SQLite, one run at a time across processes (scheduler, manual runs, the web server's
 * scheduler), since SQLite has one writer and every claim and outcome is a write. (PostgreSQL
 * takes no such lock: each section has one planner, through its planner lease in the database,
 * and any number of senders; see deliverSection.) proper-lockfile's atomic lock directory in the state folder, refreshed while held and stale
 * after 30 s without refresh. A lock whose owner process is gone from this host (killed with
 * SIGKILL) is taken over at once instead of after 30 s.
 */
export async function acquireRunLock(stateDir: string, command: string): Promise<HeldLock> {
  await privateDir(stateDir);
  const target = join(stateDir, 'ledger');
  const lockPath = join(stateDir, LOCK_NAME);
  const ownerFile = join(stateDir, `${LOCK_NAME}.owner.json`);
  const options = {
    lockfilePath: lockPath,
    realpath: false,
    stale: 30_000,
    update: 10_000,
    retries: 0,
    onCompromised: (err: Error) => {
      console.error(`digest-mailer: the run lock was lost (${err.message}); finishing in-flight sends`);
    },
  };
  const busy = (owner: Owner | null) =>
    new LockBusyError(
      `another digest-mailer run is in progress (${owner ? `pid ${owner.pid} on ${owner.host}, "${owner.command}", since ${owner.startedAt}` : 'another process'}); this one sends nothing`,
      `Wait for it to finish. The lock is ${lockPath}; it frees itself 30 s after its owner dies.`,
    );
  const tryLock = async (owner: Owner | null) => {
    try {
      return await lockfile.lock(target, options);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOCKED') throw busy(owner);
      throw err;
    }
  };
  let release: () => Promise<void>;
  try {
    release = await tryLock(null);
  } catch (err) {
    if (!(err instanceof LockBusyError)) throw err;
    const owner = await readFile(ownerFile, 'utf8').then((t) => JSON.parse(t) as Owner, () => null);
    if (!owner || owner.host !== hostname() || alive(owner.pid)) throw busy(owner);
    // The owner was killed without releasing: take the lock over now.
    await rm(lockPath, { recursive: true, force: true });
    release = await tryLock(owner);
  }
  const owner: Owner = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command };
  await writePrivateFile(ownerFile, JSON.stringify(owner));
  return {
    async release() {
      await rm(ownerFile, { force: true });
      await release();
    },
  };
}
