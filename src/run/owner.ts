import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** Whether a process of this host is alive (EPERM: alive, someone else's). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A sender's claim owner id: `host:pid:random`, so claims of a dead local process are recognisable. */
export function newOwnerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/** True for an owner id of a process on this host that no longer runs (killed with SIGKILL). */
export function isDeadLocalOwner(owner: string): boolean {
  const match = /^(.*):(\d+):[0-9a-f]+$/.exec(owner);
  if (!match || match[1] !== hostname()) return false;
  const pid = Number(match[2]);
  return pid !== process.pid && !alive(pid);
}
