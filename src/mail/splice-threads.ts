import { Worker } from 'node:worker_threads';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config/load.js';
import type { RenderedEmail } from '../render/render.js';
import type { LinkSettings } from '../tokens/links.js';
import type { EncodedVariant } from './splice.js';

/**
 * Splicing in worker threads (delivery.composeThreads): the per-recipient part of a message
 * (links signed, headers written, personal lines quoted-printable encoded, the bytes joined)
 * runs beside the thread that talks to the store and the SMTP socket. A reader copy is posted
 * to a thread once (each thread keeps the last COPIES_KEPT, and this side mirrors that cache
 * exactly: messages to a thread are handled in order); per recipient only their fields go
 * there and their bytes come back, transferred, not copied. Same function, same bytes
 * (spliceFor); test/mail/splice-threads.test.ts compares them.
 */

/** What a thread needs from the run once: the list's header fields and the link settings. */
export interface SpliceThreadInit {
  list: Config['list'];
  links: LinkSettings;
}

/** A reader copy as posted to a thread: the encoded variant plus what the headers and links use. */
export interface PostedCopy {
  rendered: Pick<RenderedEmail, 'subject' | 'preheader' | 'summary' | 'reasons' | 'paperIds'> & { encoded: EncodedVariant };
  section: { date: string; days?: unknown; papers: { id: string }[] };
}

export interface SpliceRequest {
  id: number;
  copyId: number;
  /** Present when the thread does not hold the copy (see COPIES_KEPT). */
  copy?: PostedCopy;
  subscriber: { email: string; name?: string | undefined; id?: number | undefined; tokenGeneration?: number | undefined };
  date: number;
  issue: string;
}

export type SpliceReply = { id: number; raw: Uint8Array; messageId: string } | { id: number; error: string };

/** Run from the TypeScript sources (tests, tsx): the thread loads them through tsx too; compiled, the .js beside this one. */
const FROM_SOURCES = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCES ? './splice-worker.ts' : './splice-worker.js', import.meta.url);

/** Reader copies a thread keeps (readers come grouped by paper set: a few at a time are in use). */
export const COPIES_KEPT = 64;

interface Thread {
  worker: Worker;
  /** Mirrors the thread's own cache of copies (same size, same order of use). */
  copies: LRUCache<number, true>;
  pending: Map<number, { resolve: (r: { raw: Buffer; messageId: string }) => void; reject: (e: Error) => void }>;
}

export class SpliceThreads {
  private readonly threads: Thread[];
  private readonly copyIds = new WeakMap<object, number>();
  private nextCopy = 1;
  private nextId = 1;
  private failure: Error | null = null;

  constructor(count: number, init: SpliceThreadInit) {
    this.threads = Array.from({ length: count }, () => {
      const worker = FROM_SOURCES
        ? new Worker(`import('tsx/esm/api').then((tsx) => tsx.register()).then(() => import(${JSON.stringify(WORKER_URL.href)}))`, { eval: true, workerData: init })
        : new Worker(WORKER_URL, { workerData: init });
      const thread: Thread = { worker, copies: new LRUCache({ max: COPIES_KEPT }), pending: new Map() };
      worker.on('message', (reply: SpliceReply) => {
        const waiting = thread.pending.get(reply.id);
        if (!waiting) return;
        thread.pending.delete(reply.id);
        if ('error' in reply) waiting.reject(new Error(`splicing in a worker thread failed: ${reply.error}`));
        else waiting.resolve({ raw: Buffer.from(reply.raw.buffer, reply.raw.byteOffset, reply.raw.byteLength), messageId: reply.messageId });
      });
      const fail = (err: Error) => {
        this.failure ??= err;
        for (const waiting of thread.pending.values()) waiting.reject(err);
        thread.pending.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`a splice worker thread exited (code ${code})`)));
      worker.unref();
      return thread;
    });
  }

  /**
   * One recipient's message from `copy` (an object that stands for one reader copy as long as
   * it lives: the PreparedCopy of the variant cache), spliced in a thread.
   */
  splice(copy: object, posted: () => PostedCopy, request: Omit<SpliceRequest, 'id' | 'copyId' | 'copy'>): Promise<{ raw: Buffer; messageId: string }> {
    if (this.failure) return Promise.reject(this.failure);
    let copyId = this.copyIds.get(copy);
    if (copyId === undefined) this.copyIds.set(copy, (copyId = this.nextCopy++));
    // A copy stays with one thread, so it is posted once per thread that splices it.
    const thread = this.threads[copyId % this.threads.length]!;
    const id = this.nextId++;
    const message: SpliceRequest = { ...request, id, copyId };
    if (thread.copies.get(copyId) === undefined) {
      message.copy = posted();
      thread.copies.set(copyId, true);
    }
    return new Promise((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      thread.worker.postMessage(message);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
