import { UsageError, UserError } from '../../errors.js';
import type { DeliveryFilter, DeliveryRecord, DeliveryStatus, Store } from '../../store/store.js';
import { openStore } from '../../store/open.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { loadConfigFrom } from '../shared.js';

const STATUSES: readonly DeliveryStatus[] = ['queued', 'claimed', 'sent', 'skipped-no-match', 'cancelled', 'failed', 'deferred'];
const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** A daily issue is its section's date; a roll-up weekly:DATE or catchup:DATE (src/run/plan.ts). */
const ISSUE = /^(?:(?:weekly|catchup):)?\d{4}-\d{2}-\d{2}$/;

export interface DeliveriesFlags {
  section?: string;
  issue?: string;
  status?: string;
  reason?: string;
  json: boolean;
}

export interface RetryFlags {
  section: string;
  failed: boolean;
  reason?: string;
}

function checkSection(section: string | undefined): void {
  if (section !== undefined && !DATE.test(section)) throw new UsageError(`--section: "${section}" is not a date (YYYY-MM-DD)`);
}

/** The filter of `deliveries`, validated: a typo in --status is an error, not an empty list. */
export function deliveryFilter(flags: Pick<DeliveriesFlags, 'section' | 'issue' | 'status' | 'reason'>): DeliveryFilter {
  checkSection(flags.section);
  if (flags.issue !== undefined && !ISSUE.test(flags.issue)) {
    throw new UsageError(`--issue: "${flags.issue}" is not an issue key (YYYY-MM-DD, weekly:YYYY-MM-DD or catchup:YYYY-MM-DD)`);
  }
  if (flags.status !== undefined && !STATUSES.includes(flags.status as DeliveryStatus)) {
    throw new UsageError(`--status: "${flags.status}" is not one of ${STATUSES.join(', ')}`);
  }
  return {
    ...(flags.section ? { section: flags.section } : {}),
    ...(flags.issue ? { issue: flags.issue } : {}),
    ...(flags.status ? { status: flags.status as DeliveryStatus } : {}),
    ...(flags.reason ? { reason: flags.reason } : {}),
  };
}

/** Every matching delivery, a page at a time (memory holds one page). */
async function* allDeliveries(store: Store, filter: DeliveryFilter): AsyncIterable<DeliveryRecord> {
  let after = 0;
  for (;;) {
    const page = await store.listDeliveries(filter, { after, limit: 1000 });
    yield* page;
    if (page.length < 1000) return;
    after = page.at(-1)!.id;
  }
}

/** One line per delivery: sections, status, address, and the server's reason for failures. */
export function formatDelivery(d: DeliveryRecord): string {
  const status = d.status === 'failed' ? (d.permanent ? 'failed (permanent)' : 'failed (temporary)') : d.status;
  const issue = d.issue === d.sections[0] && d.sections.length === 1 ? d.issue : `${d.issue} (${d.sections.join(',')})`;
  return `${issue.padEnd(10)}  ${status.padEnd(18)}  ${d.emailKey}${d.reason ? `  ${d.reason.replace(/\s+/g, ' ')}` : ''}`;
}

/** `deliveries`: lists outcomes with their reasons, filtered by section, status and reason text. */
export async function deliveriesCommand(globals: GlobalOptions, flags: DeliveriesFlags): Promise<number> {
  const filter = deliveryFilter(flags);
  const config = await loadConfigFrom(globals);
  const store = await openStore(config);
  try {
    let count = 0;
    for await (const d of allDeliveries(store, filter)) {
      console.log(flags.json ? JSON.stringify({ sections: d.sections, email: d.emailKey, status: d.status, permanent: d.permanent, reason: d.reason, messageId: d.messageId, attempts: d.attempts, updatedAt: d.updatedAt }) : formatDelivery(d));
      count++;
    }
    if (!flags.json) console.error(`${count} deliver${count === 1 ? 'y' : 'ies'}`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/**
 * `retry`: puts chosen failures of one section back in the queue (permanent ones too: the
 * operator chose them) and the section back to `sending`, so the next pass sends them, with the
 * Message-ID they had (it is derived from section and address).
 */
export async function retryCommand(globals: GlobalOptions, flags: RetryFlags): Promise<number> {
  checkSection(flags.section);
  if (!flags.failed && !flags.reason) {
    throw new UsageError('retry: choose what to re-queue with --failed (every failure) and/or --reason TEXT', 'List them first: digest-mailer deliveries --section DATE --status failed');
  }
  const config = await loadConfigFrom(globals);
  const store = await openStore(config);
  try {
    const section = await store.section(flags.section);
    if (!section) throw new UserError(`no section ${flags.section} has been sent`, 'Run "digest-mailer sections" to list them.');
    const at = new Date().toISOString();
    const count = await store.requeueDeliveries({ section: flags.section, status: 'failed', ...(flags.reason ? { reason: flags.reason } : {}), includePermanent: true }, at);
    if (count > 0 && section.status !== 'sending') await store.putSection(flags.section, { ...section, status: 'sending', at });
    const what = flags.reason ? ` whose reason contains "${flags.reason}"` : '';
    console.log(
      count === 0
        ? `Nothing to re-queue: no failed delivery of ${flags.section}${what}.`
        : `Re-queued ${count} failed deliver${count === 1 ? 'y' : 'ies'} of ${flags.section}${what}; the section is sending again. The next run sends them, with the same Message-ID.`,
    );
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
