/**
 * A failure reason with the addresses (and queue ids) in it masked: "550 5.1.1 <a@b.org>:
 * unknown" and "550 5.1.1 <c@d.org>: unknown" are one reason, and neither names a reader. The
 * run summary groups by it, `db status` shows the intake's last error through it. Its own
 * module so the CLI's db commands need not load the send path.
 */
export function reasonGroup(reason: string): string {
  return reason
    .replace(/<[^<>\s]*@[^<>\s]*>/g, '<address>')
    .replace(/[^\s<>:;,()"']+@[^\s<>:;,()"']+/g, 'address')
    .replace(/\b[0-9A-F]{8,12}\b/g, 'ID')
    .trim();
}

/** Counted reasons, most first, ties in text order (a pass's DeliveryCounts.reasons, the summary's top reasons). */
export function sortedReasons(reasons: ReadonlyMap<string, number>): { reason: string; count: number }[] {
  return [...reasons].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}
