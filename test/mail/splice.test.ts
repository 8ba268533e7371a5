import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, describe, expect, it } from 'vitest';
import { scaled } from '../timeouts.js';
import { selectPapers, type Preferences } from '../../src/audience/select.js';
import { composeMessage, type ComposeInput } from '../../src/mail/compose.js';
import { encode, wrap } from 'nodemailer/lib/qp';
import { encodeCopy, encodeVariant, headerBlock, HeaderWriter, qpJoined, spliceMessage } from '../../src/mail/splice.js';
import { seededRandom } from '../../src/seeded-random.js';
import { fill, personalFields } from '../../src/render/personalise.js';
import { renderEmail, type RenderSettings } from '../../src/render/render.js';
import { compileTemplates, readTemplateSources } from '../../src/render/templates.js';
import { NO_PREFS, ROOT, bareLineFeeds, classified, seedSections, seedTaxonomy, seedRenderSettings } from '../helpers.js';

const templatesDir = join(ROOT, 'templates');
const templates = compileTemplates(await readTemplateSources(templatesDir));
const taxonomy = seedTaxonomy();
const settings: RenderSettings = seedRenderSettings();

/** Names and values that need header encoding or hit quoted-printable edge cases. */
const readers = [
  { name: 'Ana López', email: 'ana@example.org' },
  { name: '李明 (Li Ming)', email: 'li.ming@example.org' },
  { name: 'Zoë "Z" Martin, Jr.', email: 'zoe+digest@example.org' },
  { name: 'محمد علي', email: 'mohammed@example.org' },
  // Long enough that the greeting crosses the 76-column line and the To header folds.
  { name: 'Jean-Baptiste Émile de la Fontaine-Montgolfier Saint-Exupéry von Hohenzollern-Sigmaringen', email: 'jb@example.org' },
  // "=" and "." where a quoted-printable line starts; a leading dot must survive SMTP.
  { name: '.=Dot=Equals.', email: 'dot@example.org' },
  { name: undefined, email: 'noname@example.org' },
];

function personalFor(reader: (typeof readers)[number], i: number) {
  // A manage URL of a length that puts "=" right at the soft-break column.
  return {
    greeting: reader.name ? `Hi ${reader.name},` : 'Hello,',
    email: reader.email,
    manageUrl: `https://digest.example.org/preferences?token=v1.${'a'.repeat(40 + i)}=.${'b'.repeat(43)}`,
    unsubscribeUrl: `https://digest.example.org/unsubscribe?token=v1.${'c'.repeat(30 + 3 * i)}.${'d'.repeat(43)}`,
    webUrl: `https://digest.example.org/archive/2025-11-12/yours?token=v1.${'e'.repeat(50 + i)}.${'f'.repeat(43)}`,
    // Repeated in every paper's two links, at lengths that move "=" across the soft-break column.
    feedbackUrl: `https://digest.example.org/feedback?token=v1.${'g'.repeat(60 + 5 * i)}=.${'h'.repeat(43)}`,
  };
}


const dir = mkdtempSync(join(tmpdir(), 'dm-splice-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('encode once, splice per recipient', () => {
  const sections = seedSections().filter((s) => s.papers.length > 0);
  const cases: { file: string; expected: { to: string; subject: string; text: string; html: string; unsubscribe: string } }[] = [];

  it('gives the same bytes as a full nodemailer composition, for every seed variant and tricky recipient', async () => {
    let n = 0;
    let identical = 0;
    let softBreaksOnly = 0;
    for (const section of sections) {
      const papers = classified(section);
      const mixes: Preferences[] = [NO_PREFS, { ...NO_PREFS, topics: ['video', 'reasoning'] }, { ...NO_PREFS, authors: papers.flatMap((p) => p.authors).slice(0, 3) }];
      for (const prefs of mixes) {
        const selected = selectPapers(papers, prefs);
        if (!selected.length) continue;
        const email = await renderEmail(templates, templatesDir, section, selected, settings);
        const encoded = encodeVariant(email);
        for (const [i, reader] of readers.entries()) {
          const personal = personalFields(email, personalFor(reader, i));
          const input: Omit<ComposeInput, 'text' | 'html'> = {
            from: { name: 'Multimodal LLM Digest', address: 'digest@example.org' },
            replyTo: 'editors@example.org',
            to: { name: reader.name, address: reader.email },
            subject: email.subject,
            messageId: `<digest-${section.date}.${i}@mllm-digest.example.org>`,
            date: new Date('2025-11-12T07:00:00Z'),
            list: { name: 'Multimodal LLM Digest', id: 'mllm-digest.example.org', unsubscribeUrl: personal.unsubscribeUrl, unsubscribeMailto: 'unsubscribe@example.org' },
          };
          const text = fill(email.text, personal, false);
          const html = fill(email.html, personal, true);
          const spliced = spliceMessage(encoded, input, personal);
          // The reader copy's lines encoded once beforehand (as a run does): the same bytes.
          expect(spliceMessage(encodeCopy(encoded, personal), input, personal).equals(spliced)).toBe(true);
          const whole = await composeMessage({ ...input, text, html }, encoded.baseBoundary);
          const what = `${section.date} ${JSON.stringify(prefs)} ${reader.email}`;
          if (Buffer.byteLength(html) < 64 * 1024) {
            expect(spliced.toString('latin1'), what).toBe(whole.toString('latin1'));
            identical++;
          } else {
            // nodemailer's streaming encoder wraps a part over 64 KB slice by slice; the splice
            // wraps line by line. Same encoded characters, soft breaks (=CRLF) in other places.
            const unwrapped = (raw: Buffer) => raw.toString('latin1').replace(/=\r\n/g, '');
            expect(unwrapped(spliced), what).toBe(unwrapped(whole));
            const body = spliced.toString('latin1').split('\r\n\r\n').slice(1).join('\r\n\r\n');
            expect(body.split('\r\n').every((line) => line.length <= 76), what).toBe(true);
            softBreaksOnly++;
          }
          expect(bareLineFeeds(spliced)).toBe(0);
          expect(spliced.toString('latin1').split('\r\n').every((line) => line.length <= 998)).toBe(true);
          if (n % 5 === 0 || reader.name?.startsWith('.') || reader.name?.startsWith('Jean')) {
            const file = join(dir, `${n}.eml`);
            writeFileSync(file, spliced);
            cases.push({ file, expected: { to: reader.email, subject: email.subject, text, html, unsubscribe: personal.unsubscribeUrl } });
          }
          n++;
        }
      }
    }
    expect(n).toBeGreaterThan(sections.length * readers.length);
    expect(identical).toBeGreaterThan(softBreaksOnly);
  }, scaled(180_000));

  it('writes the header block line by line exactly as nodemailer builds it, for names, subjects and links that need encoding or folding', () => {
    const random = seededRandom(5);
    const pick = <T,>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    const pieces = ['Ana', 'López', '李明', '"Z"', 'Zoë', 'محمد', 'Ольга', ',', '(x)', '=', '?', '.', 'Jr.', 'de la', 'Fontaine-Montgolfier', '<b>', '@', ';', '\\', '  ', 'é'.repeat(30), 'a'.repeat(70)];
    const words = (n: number) => Array.from({ length: n }, () => pick(pieces)).join(pick([' ', '', ' ']));
    const writer = new HeaderWriter();
    for (let i = 0; i < 400; i++) {
      const name = random() < 0.15 ? undefined : words(1 + Math.floor(random() * 8));
      const input: Omit<ComposeInput, 'text' | 'html'> = {
        from: { name: pick(['Multimodal LLM Digest', 'Digest · Täglich', 'The "Daily" Digest']), address: 'digest@example.org' },
        replyTo: pick([undefined, 'editors@example.org']),
        to: { name, address: pick(['reader@example.org', 'zoe+news@example.org', 'li@例え.jp', 'x.y@sub.example.co.uk']) },
        subject: `${pick(['Multimodal LLM Digest', 'Digest'])} · ${words(1 + Math.floor(random() * 12))}`,
        messageId: `<digest-2025-11-12.${i.toString(16)}${'f'.repeat(Math.floor(random() * 40))}@mllm-digest.example.org>`,
        date: new Date(Date.UTC(2025, 10, 12, 7, 0, Math.floor(random() * 86_400))),
        list: {
          name: pick(['Multimodal LLM Digest', 'Digest · Täglich']),
          id: 'mllm-digest.example.org',
          unsubscribeUrl: `https://digest.example.org/unsubscribe?token=v1.${'c'.repeat(Math.floor(random() * 120))}.${'d'.repeat(43)}`,
          unsubscribeMailto: 'unsubscribe@example.org',
        },
      };
      const variant = encodeVariant({ html: { parts: ['<p>x</p>'], slots: [] }, text: { parts: ['x'], slots: [] } });
      expect(writer.block(input, variant.contentType), JSON.stringify(input)).toBe(headerBlock(input, variant.baseBoundary));
    }
  });

  it('reads back to the same headers and parts in mailparser and in Python\'s email package', async () => {
    expect(cases.length).toBeGreaterThan(10);
    const lf = (s: string) => s.replace(/\r\n/g, '\n');
    for (const { file, expected } of cases) {
      const mail = await simpleParser(await import('node:fs/promises').then((fs) => fs.readFile(file)));
      expect(mail.subject).toBe(expected.subject);
      expect((mail.to as { value: { address: string }[] }).value[0]!.address).toBe(expected.to);
      expect(lf(mail.text!)).toBe(lf(expected.text));
      expect(lf(mail.html as string)).toBe(lf(expected.html));
    }
    const script = `
import email, email.policy, json, sys
out = []
for path in sys.argv[1:]:
    with open(path, 'rb') as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    parts = {p.get_content_type(): p.get_content() for p in msg.walk() if not p.is_multipart()}
    out.append({'subject': str(msg['subject']), 'to': msg['to'].addresses[0].addr_spec, 'name': msg['to'].addresses[0].display_name,
                'unsubscribe': str(msg['list-unsubscribe']), 'text': parts['text/plain'], 'html': parts['text/html'], 'defects': len(msg.defects)})
print(json.dumps(out))
`;
    const parsed = JSON.parse(execFileSync('python3', ['-c', script, ...cases.map((c) => c.file)], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }));
    for (const [i, { expected }] of cases.entries()) {
      const py = parsed[i];
      expect(py.defects).toBe(0);
      expect(py.subject).toBe(expected.subject);
      expect(py.to).toBe(expected.to);
      expect(py.unsubscribe).toContain(`<${expected.unsubscribe}>`);
      expect(lf(py.text)).toBe(lf(expected.text));
      expect(lf(py.html)).toBe(lf(expected.html));
    }
  }, scaled(120_000));

  it('encodes a line group piece by piece exactly as the joined text, blanks and surrogate pairs at the joins included', () => {
    const next = seededRandom(76);
    const alphabet = [' ', '\t', '=', '.', 'a', 'é', '李', '\r\n', '😀', '\ud83d', '\ude00', 'https://x.example/?t=v1.abc'];
    const piece = () => Array.from({ length: Math.floor(next() * 12) }, () => alphabet[Math.floor(next() * alphabet.length)]!).join('');
    for (let n = 0; n < 2000; n++) {
      const pieces = Array.from({ length: 1 + Math.floor(next() * 7) }, piece);
      // Long runs too, so soft breaks fall inside and across pieces.
      if (n % 3 === 0) pieces.push('x'.repeat(Math.floor(next() * 200)));
      expect(qpJoined(pieces, (p) => encode(p)), JSON.stringify(pieces)).toBe(wrap(encode(pieces.join('')), 76));
    }
  });
});
