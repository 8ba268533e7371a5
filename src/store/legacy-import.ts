import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadSubscribers } from '../audience/load.js';
import { addressKey } from '../audience/schema.js';
import type { Problem } from '../errors.js';
import { deliveryKey, emptyState } from '../ledger/events.js';
import { DELIVERIES_DIR, LEDGER_FILE, parseJournal } from '../ledger/ledger.js';
import { markLegacyStateImported, markSubscribersFileImported } from './bootstrap.js';
import type { Store } from './store.js';
import type { NewDelivery } from './types.js';

export interface LegacyImportReport {
  subscribersAdded: number;
  subscribersKept: number;
  sectionsAdded: number;
  sectionsKept: number;
  deliveries: number;
  firstSeen: number;
  problems: Problem[];
  /** Worth saying but expected (a torn line in the journal of a section still being sent). */
  notes: string[];
}

async function readText(file: string): Promise<string | null> {
  return readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
}

function tornProblem(file: string, line: number): Problem {
  return {
    where: `${file}:${line}`,
    message: 'the last line is incomplete (a run was stopped while writing it) and was not imported',
    hint: 'What it recorded is lost. Nothing is resent for a finished section; check "digest-mailer deliveries --section DATE" and the mail log for that recipient.',
  };
}

/**
 * Brings the JSON files of earlier versions into the store: the subscribers file, then the
 * `state/` journals (sections with their hashes and opening times, every recorded delivery
 * with its Message-ID, first-seen times, the last pass). Nothing already in the store is
 * overwritten, and nothing recorded as sent, skipped or permanently failed is sent again.
 */
export async function importLegacyState(
  store: Store,
  source: { subscribersFile?: string | undefined; stateDir?: string | undefined; topicIds: ReadonlySet<string> },
): Promise<LegacyImportReport> {
  const report: LegacyImportReport = { subscribersAdded: 0, subscribersKept: 0, sectionsAdded: 0, sectionsKept: 0, deliveries: 0, firstSeen: 0, problems: [], notes: [] };

  // Every journal is read and checked before anything is written: a damaged line stops the
  // import with its file and line while the store still holds no half of the state (a run in
  // between would otherwise see a section being sent without its deliveries, and resend).
  const ledgerFile = source.stateDir ? join(source.stateDir, LEDGER_FILE) : null;
  const text = ledgerFile ? await readText(ledgerFile) : null;
  const ledger = text !== null && ledgerFile ? parseJournal(text, ledgerFile) : null;
  if (ledger?.tornLine != null) report.problems.push(tornProblem(ledgerFile!, ledger.tornLine));
  const journals: { date: string; state: ReturnType<typeof emptyState> }[] = [];
  const sending = (date: string) => ledger?.state.sections.get(date)?.status === 'sending';
  const files = ledger ? await readdir(join(source.stateDir!, DELIVERIES_DIR)).catch(() => [] as string[]) : [];
  for (const name of files.filter((f) => /^\d{4}-\d{2}-\d{2}\.jsonl$/.test(f)).sort()) {
    const file = join(source.stateDir!, DELIVERIES_DIR, name);
    // A torn last line (a crash mid-append) is not applied, as the old ledger did, but said.
    const parsed = parseJournal((await readText(file)) ?? '', file, emptyState());
    const date = name.slice(0, 10);
    if (parsed.tornLine !== null) {
      // While a section is being sent a torn line is what a crash leaves (that recipient is sent
      // again, as after any crash); in the journal of a finished section it means a lost record.
      if (sending(date)) report.notes.push(`${file}:${parsed.tornLine}: incomplete last line (the run was stopped while writing it): not imported; the next run sends to the recipient it named`);
      else report.problems.push(tornProblem(file, parsed.tornLine));
    }
    journals.push({ date, state: parsed.state });
  }

  if (source.subscribersFile) {
    const list = await loadSubscribers(source.subscribersFile, source.topicIds);
    report.problems.push(...list.problems);
    for (const { history, ...subscriber } of list.subscribers) {
      const added = await store.mutateSubscriber(subscriber.email, (found) => (found ? { result: false } : { result: true, put: { subscriber, change: { event: 'imported', by: 'db import', detail: source.subscribersFile } } }));
      if (!added) {
        report.subscribersKept++;
        continue;
      }
      report.subscribersAdded++;
      // The consent history of the file comes along as rows (after the import event, with their own times).
      if (history?.length) await store.appendConsentEvents(subscriber.email, history);
    }
    await markSubscribersFileImported(store);
  }

  if (!ledger) return report;
  const { state } = ledger;
  // Deliveries before sections: a section is never seen as being sent without its records.
  for (const { date, state: journal } of journals) {
    const rows: NewDelivery[] = [];
    for (const [key, record] of journal.deliveries) {
      const email = key.slice(deliveryKey(date, '').length);
      const subscriber = await store.getSubscriber(email);
      rows.push({
        issue: date,
        sections: [date],
        emailKey: addressKey(email),
        subscriberId: subscriber?.id ?? null,
        status: record.status,
        permanent: record.permanent,
        messageId: record.messageId,
        reason: record.reason,
        stage: record.stage,
        at: record.at,
      });
    }
    report.deliveries += await store.insertDeliveries(rows);
  }
  const known = await store.sections();
  for (const [date, record] of state.sections) {
    if (known.has(date)) {
      report.sectionsKept++;
      continue;
    }
    await store.putSection(date, { ...record, ...(record.status === 'sent' ? { sentAt: record.at } : {}) });
    report.sectionsAdded++;
  }

  for (const [email, at] of state.firstSeen) {
    await store.setFirstSeen(email, at);
    report.firstSeen++;
  }
  if (state.lastRunAt && (await store.lastRunAt()) === null) {
    const id = await store.startRun(state.lastRunAt, 'imported from state/ledger.jsonl');
    await store.finishRun(id, state.lastRunAt);
  }

  // Last, so an import that stopped half way still keeps a start from sending before it is rerun.
  await markLegacyStateImported(store);
  return report;
}
