/** A splice worker thread (see splice-threads.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config/load.js';
import type { Section } from '../digest/types.js';
import type { RenderedEmail } from '../render/render.js';
import type { Fillable } from '../render/personalise.js';
import { spliceFor } from '../run/deliver.js';
import { HeaderWriter, type EncodedBody, type EncodedVariant } from './splice.js';
import { COPIES_KEPT, type PostedCopy, type SpliceReply, type SpliceRequest, type SpliceThreadInit } from './splice-threads.js';

const init = workerData as SpliceThreadInit;
const config = { list: init.list } as Config;
const headers = new HeaderWriter();
const copies = new LRUCache<number, { rendered: RenderedEmail & { encoded: EncodedVariant }; section: Section }>({ max: COPIES_KEPT });

/** Buffers arrive as Uint8Arrays: the same memory, as Buffers again (splice tells bytes from slots by Buffer.isBuffer). */
function body(posted: EncodedBody): EncodedBody {
  return { staticBytes: posted.staticBytes, chunks: posted.chunks.map((c) => (c instanceof Uint8Array ? Buffer.from(c.buffer, c.byteOffset, c.byteLength) : (c as Fillable))) };
}

function received(posted: PostedCopy) {
  const encoded = { ...posted.rendered.encoded, text: body(posted.rendered.encoded.text), html: body(posted.rendered.encoded.html) };
  return { rendered: { ...posted.rendered, encoded } as unknown as RenderedEmail & { encoded: EncodedVariant }, section: posted.section as unknown as Section };
}

parentPort!.on('message', (request: SpliceRequest) => {
  let reply: SpliceReply;
  try {
    if (request.copy) copies.set(request.copyId, received(request.copy));
    const copy = copies.get(request.copyId);
    if (!copy) throw new Error(`reader copy ${request.copyId} is not held by this thread`);
    const message = spliceFor(config, copy.rendered, copy.section, request.subscriber as Parameters<typeof spliceFor>[3], init.links, new Date(request.date), headers, request.issue);
    // Its own memory, so that transferring it takes nothing else along (a small Buffer is a slice of a shared pool).
    let raw = message.raw;
    if (raw.byteOffset !== 0 || raw.buffer.byteLength !== raw.length) raw = Buffer.from(Uint8Array.prototype.slice.call(raw).buffer);
    reply = { id: request.id, raw, messageId: message.messageId };
    parentPort!.postMessage(reply, [raw.buffer as ArrayBuffer]);
    return;
  } catch (err) {
    reply = { id: request.id, error: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
