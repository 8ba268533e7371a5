import { join } from 'node:path';
import DataStream from 'nodemailer/lib/smtp-connection/data-stream.js';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { fastTransform, nodemailerTransform } from '../../src/mail/transports/dot-stuffing.js';
import { SmtpTransport } from '../../src/mail/transports/smtp.js';
import { FAST_DELIVERY, configure, makeProject, smtpTransport } from '../cli/cli-helpers.js';
import { startSmtpSink } from '../integration/servers.js';

/** Runs a transform over `chunks` as DataStream would (its state carried chunk to chunk). */
function run(transform: typeof fastTransform, chunks: (Buffer | string)[]) {
  const out: Buffer[] = [];
  const state = { inByteCount: 0, outByteCount: 0, lastByte: false as number | false, push: (b: Buffer) => out.push(Buffer.from(b)) > 0 };
  for (const chunk of chunks) transform.call(state, chunk, 'latin1', () => undefined);
  return { bytes: Buffer.concat(out).toString('latin1'), inByteCount: state.inByteCount, outByteCount: state.outByteCount, lastByte: state.lastByte };
}

/** A seeded generator (mulberry32), so a failure names a reproducible case. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes drawn mostly from the ones the encoder cares about. */
function bytesFrom(next: () => number, length: number): Buffer {
  const alphabet = [0x0d, 0x0a, 0x2e, 0x41, 0x20, 0x3d, 0x0d, 0x0a, 0x2e];
  return Buffer.from(Array.from({ length }, () => (next() < 0.9 ? alphabet[Math.floor(next() * alphabet.length)]! : Math.floor(next() * 256))));
}

/** `bytes` cut at random places into 1 to 6 chunks (some empty). */
function cut(next: () => number, bytes: Buffer): Buffer[] {
  const cuts = Array.from({ length: Math.floor(next() * 6) }, () => Math.floor(next() * (bytes.length + 1))).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const at of [...cuts, bytes.length]) {
    chunks.push(bytes.subarray(from, at));
    from = at;
  }
  return chunks;
}

describe('dot-stuffing (SMTP DATA encoding) with line-break jumps', () => {
  it('gives nodemailer DataStream\u2019s bytes and counts on edge cases', () => {
    const cases: (Buffer | string)[][] = [
      ['.'],
      ['.\r\n..\r\n'],
      ['a\r', '.b'],
      ['a\r', '\n.b'],
      ['a\n', '.b'],
      ['\r', '\r', '\n', '.'],
      ['\n\n\r\r..\r\n.'],
      ['line\r\n.', '.\r\n'],
      ['string chunk\n.with dot'],
      ['', 'x', ''],
      ['\r'],
      ['\n'],
      ['abc'],
    ].map((chunks) => chunks.map((c) => (c === 'string chunk\n.with dot' ? c : Buffer.from(c, 'latin1'))));
    for (const chunks of cases) expect(run(fastTransform, chunks), JSON.stringify(chunks.map(String))).toEqual(run(nodemailerTransform, chunks));
  });

  it('gives nodemailer DataStream\u2019s bytes and counts on 3,000 random inputs cut into random chunks', () => {
    const next = random(20251112);
    for (let n = 0; n < 3000; n++) {
      const chunks = cut(next, bytesFrom(next, Math.floor(next() * 200)));
      const fast = run(fastTransform, chunks);
      const slow = run(nodemailerTransform, chunks);
      if (fast.bytes !== slow.bytes || fast.outByteCount !== slow.outByteCount) {
        expect({ case: n, chunks: chunks.map((c) => c.toString('latin1')), out: fast }).toEqual({ case: n, chunks: chunks.map((c) => c.toString('latin1')), out: slow });
      }
      expect(fast).toEqual(slow);
    }
  });

  it('stuffs every line-start dot of a CRLF message and leaves the rest as it was', () => {
    const message = 'Subject: x\r\n\r\n.first\r\nmiddle\r\n..second\r\n=\r\n.after soft break\r\n';
    const { bytes } = run(fastTransform, [Buffer.from(message, 'latin1')]);
    expect(bytes).toBe('Subject: x\r\n\r\n..first\r\nmiddle\r\n...second\r\n=\r\n..after soft break\r\n');
  });

  it('is what the SMTP transport uses: a real smtp-server receives the exact bytes sent, line-start dots included', async () => {
    const sink = await startSmtpSink();
    const dir = await makeProject();
    await configure(dir, { transport: smtpTransport(sink.port), delivery: FAST_DELIVERY });
    const transport = new SmtpTransport(await loadConfig(join(dir, 'config.json')));
    try {
      expect((DataStream.prototype as unknown as { _transform: unknown })._transform).toBe(fastTransform);
      const lines = ['From: digest@example.org', 'To: ana@example.org', 'Subject: dots', 'Message-ID: <dots@example.org>', '', '.', '..two', 'a line', '.', 'end.', '.'];
      const raw = Buffer.from(`${lines.join('\r\n')}\r\n`, 'latin1');
      const envelope = { from: 'digest@example.org', to: 'ana@example.org' };
      expect(await transport.send({ sectionDate: '2025-11-13', recipient: envelope.to, messageId: '<dots@example.org>', envelope, raw })).toMatchObject({ ok: true });
      // Bytes without a final line break get one, as nodemailer's own message stream adds it.
      const unended = Buffer.from('From: digest@example.org\r\nTo: ana@example.org\r\nSubject: no end\r\n\r\n.last line', 'latin1');
      expect(await transport.send({ sectionDate: '2025-11-13', recipient: envelope.to, messageId: '<end@example.org>', envelope, raw: unended })).toMatchObject({ ok: true });
      expect(sink.messages.map((m) => m.raw.toString('latin1'))).toEqual([raw.toString('latin1'), `${unended.toString('latin1')}\r\n`]);
    } finally {
      await transport.close();
      await sink.close();
    }
  });
});
