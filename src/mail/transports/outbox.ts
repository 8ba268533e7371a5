import { createHash } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PRIVATE_FILE_MODE, privateDir } from '../../private-files.js';
import type { OutgoingMessage, SendResult, Transport } from '../transport.js';

/**
 * `ana.lopez@example.org` -> `ana.lopez_at_example.org`: readable and safe as a file name. A
 * name that could stand for another address too (`a_at_b@c.org` and `a@b_at_c.org`, or
 * characters replaced by `_`, as in `müller@` and `m-ller@`... `mller@`) gets a short hash of
 * the address, so one recipient's message never overwrites another's.
 */
export function outboxFileStem(address: string): string {
  const lower = address.toLowerCase();
  const stem = lower.replace('@', '_at_').replace(/[^a-z0-9._+-]/g, '_');
  const ambiguous = /_at_|[^a-z0-9._+@-]/.test(lower) || (lower.match(/@/g) ?? []).length !== 1;
  return ambiguous ? `${stem}-${createHash('sha256').update(lower).digest('hex').slice(0, 8)}` : stem;
}

async function writeAtomically(path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  // 0600: the message carries the recipient's working unsubscribe and preference links. The
  // rename replaces any earlier file (and its mode) with this one.
  await writeFile(tmp, data, { mode: PRIVATE_FILE_MODE });
  await rename(tmp, path);
}

export interface OutboxOptions {
  /** Also write `<address>.html`, the HTML body alone, for a quick look in a browser. */
  htmlCopy?: boolean;
}

/**
 * The embedded default: each message as `<outbox>/<date>/<local>_at_<domain>.eml` (0600, folders 0700) (the exact bytes a
 * server would get; opens in any mail client). The `.html` copy only with `htmlCopy`: at
 * 100,000 recipients it doubled the disk used for no delivery purpose.
 */
export class OutboxTransport implements Transport {
  readonly name = 'outbox';

  constructor(
    private readonly dir: string,
    private readonly options: OutboxOptions = {},
  ) {}

  async send(message: OutgoingMessage): Promise<SendResult> {
    const folder = join(this.dir, message.sectionDate);
    await privateDir(folder);
    const stem = join(folder, outboxFileStem(message.recipient));
    await writeAtomically(`${stem}.eml`, message.raw);
    if (this.options.htmlCopy && message.html !== undefined) {
      await writeAtomically(`${stem}.html`, typeof message.html === 'function' ? message.html() : message.html);
    }
    return { ok: true, providerId: `${stem}.eml` };
  }

  async close(): Promise<void> {}
}
