import { encode, wrap } from 'nodemailer/lib/qp';
import { describe, expect, it } from 'vitest';
import { wrapQp } from '../../src/mail/qp-wrap.js';
import { seededRandom } from '../../src/seeded-random.js';

describe('quoted-printable soft breaks without regular expressions', () => {
  it('breaks exactly where nodemailer does on edge cases', () => {
    const cases = [
      '',
      'x'.repeat(76),
      'x'.repeat(77),
      `${'x'.repeat(74)}=C3=A9${'y'.repeat(80)}`,
      `${'x'.repeat(75)}=3D${'y'.repeat(10)}`,
      `${'x'.repeat(73)}=E2=82=AC${'z'.repeat(90)}`,
      `${'=E2=82=AC'.repeat(40)}`,
      `${'a '.repeat(60)}`,
      `${'word.'.repeat(30)}\r\n${'next,'.repeat(30)}`,
      `${'x'.repeat(60)}\n${'y'.repeat(60)}`,
      `${'x'.repeat(60)}\n${'y'.repeat(5)}\r${'z'.repeat(60)}`,
      `${'x'.repeat(75)}=`,
      `${'x'.repeat(74)}=A`,
      `${'x'.repeat(200)}==`,
    ];
    for (const text of cases) for (const width of [76, 20, 4]) expect(wrapQp(text, width), `${width}: ${JSON.stringify(text)}`).toBe(wrap(text, width));
  });

  it('breaks exactly where nodemailer does on 5,000 random quoted-printable texts', () => {
    const next = seededRandom(2045);
    const pieces = ['a', 'b', 'F', '0', '9', '=', '=3D', '=C3=A9', '=E2=82=AC', '=F0=9F=98=80', ' ', '\t', '.', ',', '!', '?', '\r\n', '\n', '\r', 'https://digest.example.org/x?token=3Dv1.', 'x'.repeat(30)];
    for (let n = 0; n < 5000; n++) {
      const text = Array.from({ length: Math.floor(next() * 120) }, () => pieces[Math.floor(next() * pieces.length)]!).join('');
      const width = n % 10 === 0 ? 4 + Math.floor(next() * 80) : 76;
      expect(wrapQp(text, width), `${n} ${width}: ${JSON.stringify(text)}`).toBe(wrap(text, width));
    }
  });

  it('wraps encoded text of any script as nodemailer does, and hands text beyond ASCII to it', () => {
    const next = seededRandom(76);
    const chars = ['é', '李', '😀', ' ', '.', 'a', '=', '\r\n', 'محمد', 'x'.repeat(50)];
    for (let n = 0; n < 1000; n++) {
      const encoded = encode(Array.from({ length: Math.floor(next() * 60) }, () => chars[Math.floor(next() * chars.length)]!).join(''));
      expect(wrapQp(encoded), JSON.stringify(encoded)).toBe(wrap(encoded, 76));
    }
    const unencoded = `${'é'.repeat(50)} ${'x'.repeat(100)}\u2028${'y'.repeat(40)}`;
    expect(wrapQp(unencoded)).toBe(wrap(unencoded, 76));
  });
});
