import { mkdir, open, readFile, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { InputError } from '../errors.js';
import {
  applyEvent,
  deliveryKey,
  emptyState,
  type DeliveryRecord,
  type LedgerEvent,
  type LedgerState,
  type SectionRecord,
} from './events.js';

export const LEDGER_FILE = 'ledger.jsonl';
export const DELIVERIES_DIR = 'deliveries';

const optional = z.string().optional();
/** The journal lines earlier versions wrote: checked at the boundary, so a damaged one names its line. */
const eventSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('section'), date: z.string(), status: z.enum(['sending', 'sent', 'before-start', 'empty', 'failed']), hash: z.string(), at: z.string(), openedAt: optional, reason: optional }),
  z.object({
    t: z.literal('delivery'), date: z.string(), email: z.string(), status: z.enum(['sent', 'skipped-no-match', 'failed']), at: z.string(),
    messageId: optional, reason: optional, stage: optional, permanent: z.boolean().optional(),
  }),
  z.object({ t: z.literal('subscriber'), email: z.string(), firstSeen: z.string() }),
  z.object({ t: z.literal('run'), at: z.string() }),
]);

export interface ParsedJournal {
  state: LedgerState;
  validBytes: number;
  /** Line number of an unterminated last line (a crash mid-append), which was not applied. */
  tornLine: number | null;
}

/**
 * Reads journal text. A torn last line (a crash mid-append) is not applied and is reported in
 * `tornLine`; a line elsewhere that is not a journal event is an error naming file and line.
 */
export function parseJournal(text: string, file: string, state: LedgerState = emptyState()): ParsedJournal {
  let offset = 0;
  let lineNo = 0;
  let tornLine: number | null = null;
  while (offset < text.length) {
    const end = text.indexOf('\n', offset);
    lineNo++;
    if (end === -1) {
      if (text.slice(offset).trim()) tornLine = lineNo; // unterminated: the append never finished
      break;
    }
    const line = text.slice(offset, end);
    if (line.trim()) {
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        throw new InputError(
          `${file}:${lineNo}: the ledger has a damaged line (not JSON)`,
          'Restore the ledger from a backup, or delete that line if you know what it recorded.',
        );
      }
      const event = eventSchema.safeParse(json);
      if (!event.success) {
        const issue = event.error.issues[0];
        throw new InputError(
          `${file}:${lineNo}: the ledger has a damaged line (${json === null ? 'null' : `${issue?.path.join('.') || 'the line'}: ${issue?.message}`}), not a ledger event`,
          'Restore the ledger from a backup, or delete that line if you know what it recorded.',
        );
      }
      applyEvent(state, event.data as LedgerEvent);
    }
    offset = end + 1;
  }
  return { state, validBytes: Buffer.byteLength(text.slice(0, offset)), tornLine };
}

/** One append-only JSON-lines file. */
class Journal {
  private pending: string[] = [];
  private handle: FileHandle | null = null;

  constructor(readonly file: string) {}

  /** Folds the file into `state`; when writable, cuts a torn tail so appends start on a clean line. */
  async load(state: LedgerState, writable: boolean): Promise<void> {
    const text = await readFile(this.file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    const { validBytes } = parseJournal(text, this.file, state);
    if (!writable) return;
    if (Buffer.byteLength(text) > validBytes) await truncate(this.file, validBytes);
    this.handle = await open(this.file, 'a');
  }

  queue(event: LedgerEvent): void {
    this.pending.push(`${JSON.stringify(event)}\n`);
  }

  get queued(): number {
    return this.pending.length;
  }

  async write(): Promise<void> {
    if (!this.handle || this.pending.length === 0) return;
    const chunk = this.pending.join('');
    this.pending = [];
    await this.handle.write(chunk);
    await this.handle.datasync();
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = null;
  }
}

/**
 * The durable record of what was sent, skipped or failed, as append-only JSON-lines journals in
 * the state folder: `ledger.jsonl` for sections, subscribers' first-seen times and passes, and
 * `deliveries/<date>.jsonl` per section for the per-recipient outcomes. A run loads only the
 * deliveries of the sections it works on, so memory does not grow with history. Each flush is
 * one write plus fdatasync per touched file, so a crash loses at most the events not yet
 * flushed and never corrupts what was flushed. Appending keeps it cheap per recipient, and a
 * future shard can keep journals of its own.
 */
export class Ledger {
  private readonly main: Journal;
  private readonly deliveryJournals = new Map<string, Journal>();
  private flushing: Promise<void> = Promise.resolve();
  private nextFlush: Promise<void> | null = null;

  private constructor(
    private readonly stateDir: string,
    private readonly state: LedgerState,
    private readonly writable: boolean,
  ) {
    this.main = new Journal(join(stateDir, LEDGER_FILE));
  }

  /** Opens for reading only: `sections`, `--dry-run` and previews never write. */
  static async read(stateDir: string): Promise<Ledger> {
    const ledger = new Ledger(stateDir, emptyState(), false);
    await ledger.main.load(ledger.state, false);
    return ledger;
  }

  static async openForWriting(stateDir: string): Promise<Ledger> {
    await mkdir(join(stateDir, DELIVERIES_DIR), { recursive: true });
    const ledger = new Ledger(stateDir, emptyState(), true);
    await ledger.main.load(ledger.state, true);
    return ledger;
  }

  /** Loads one section's delivery outcomes (once); needed before `delivery(date, ...)`. */
  async loadDeliveries(date: string): Promise<void> {
    if (this.deliveryJournals.has(date)) return;
    const journal = new Journal(join(this.stateDir, DELIVERIES_DIR, `${date}.jsonl`));
    this.deliveryJournals.set(date, journal);
    await journal.load(this.state, this.writable);
  }

  section(date: string): SectionRecord | undefined {
    return this.state.sections.get(date);
  }

  get sections(): ReadonlyMap<string, SectionRecord> {
    return this.state.sections;
  }

  delivery(date: string, email: string): DeliveryRecord | undefined {
    if (!this.deliveryJournals.has(date)) throw new Error(`deliveries of ${date} are not loaded`);
    return this.state.deliveries.get(deliveryKey(date, email));
  }

  /** When the last (non-dry) pass started, ISO 8601; null before the first. */
  get lastRunAt(): string | null {
    return this.state.lastRunAt;
  }

  firstSeen(email: string): string | undefined {
    return this.state.firstSeen.get(email);
  }

  /** Applies the event now and queues it for the next flush. */
  record(event: LedgerEvent): void {
    if (!this.writable) throw new Error('ledger opened read-only');
    const journal = event.t === 'delivery' ? this.deliveryJournals.get(event.date) : this.main;
    if (!journal) throw new Error(`deliveries of ${event.t === 'delivery' ? event.date : ''} are not loaded`);
    applyEvent(this.state, event);
    journal.queue(event);
  }

  get unflushed(): number {
    return this.main.queued + [...this.deliveryJournals.values()].reduce((n, j) => n + j.queued, 0);
  }

  /**
   * Writes queued events. Callers that arrive while a flush is on disk share the next one
   * (group commit), so many workers cost few fsyncs. Deliveries are written before the main
   * journal, so a section is never recorded as sent ahead of its recipients.
   */
  flush(): Promise<void> {
    if (this.nextFlush) return this.nextFlush;
    const next = this.flushing.then(async () => {
      this.nextFlush = null;
      await Promise.all([...this.deliveryJournals.values()].map((j) => j.write()));
      await this.main.write();
    });
    this.nextFlush = next;
    this.flushing = next;
    return next;
  }

  async close(): Promise<void> {
    await this.flush();
    await Promise.all([this.main.close(), ...[...this.deliveryJournals.values()].map((j) => j.close())]);
  }
}
