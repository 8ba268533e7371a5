import { mkdir, open, readFile, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
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

/** Reads the journal; a torn last line (a crash mid-append) is ignored, damage elsewhere is an error. */
export function parseJournal(text: string, file: string): { state: LedgerState; validBytes: number } {
  const state = emptyState();
  let offset = 0;
  let lineNo = 0;
  while (offset < text.length) {
    const end = text.indexOf('\n', offset);
    lineNo++;
    if (end === -1) break; // unterminated: the append never finished
    const line = text.slice(offset, end);
    if (line.trim()) {
      let event: LedgerEvent;
      try {
        event = JSON.parse(line) as LedgerEvent;
      } catch {
        throw new InputError(
          `${file}:${lineNo}: the ledger has a damaged line`,
          'Restore the ledger from a backup, or delete that line if you know what it recorded.',
        );
      }
      applyEvent(state, event);
    }
    offset = end + 1;
  }
  return { state, validBytes: Buffer.byteLength(text.slice(0, offset)) };
}

/**
 * The durable record of what was sent, skipped or failed: an append-only JSON-lines journal
 * in the state folder. Each flush is one write plus fdatasync, so a crash loses at most the
 * events not yet flushed and never corrupts what was flushed. Appending (not rewriting) keeps
 * it cheap per recipient and lets shards later keep one journal each.
 */
export class Ledger {
  private pending: string[] = [];
  private handle: FileHandle | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private nextFlush: Promise<void> | null = null;

  private constructor(
    readonly file: string,
    private readonly state: LedgerState,
    private readonly writable: boolean,
  ) {}

  private static async load(stateDir: string) {
    const file = join(stateDir, LEDGER_FILE);
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    return { file, text, ...parseJournal(text, file) };
  }

  /** Opens for reading only: `sections`, `--dry-run` and previews never write. */
  static async read(stateDir: string): Promise<Ledger> {
    const { file, state } = await Ledger.load(stateDir);
    return new Ledger(file, state, false);
  }

  static async openForWriting(stateDir: string): Promise<Ledger> {
    await mkdir(stateDir, { recursive: true });
    const { file, text, state, validBytes } = await Ledger.load(stateDir);
    // Cut a torn tail so the next append starts on a clean line.
    if (Buffer.byteLength(text) > validBytes) await truncate(file, validBytes);
    const ledger = new Ledger(file, state, true);
    ledger.handle = await open(file, 'a');
    return ledger;
  }

  section(date: string): SectionRecord | undefined {
    return this.state.sections.get(date);
  }

  get sections(): ReadonlyMap<string, SectionRecord> {
    return this.state.sections;
  }

  delivery(date: string, email: string): DeliveryRecord | undefined {
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
    applyEvent(this.state, event);
    this.pending.push(`${JSON.stringify(event)}\n`);
  }

  get unflushed(): number {
    return this.pending.length;
  }

  /**
   * Writes queued events with one write and one fdatasync. Callers that arrive while a flush is
   * on disk share the next one (group commit), so many workers cost few fsyncs.
   */
  flush(): Promise<void> {
    if (this.nextFlush) return this.nextFlush;
    const next = this.flushing.then(async () => {
      this.nextFlush = null;
      if (!this.handle || this.pending.length === 0) return;
      const chunk = this.pending.join('');
      this.pending = [];
      await this.handle.write(chunk);
      await this.handle.datasync();
    });
    this.nextFlush = next;
    this.flushing = next;
    return next;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.handle?.close();
    this.handle = null;
  }
}
