import { describe, expect, it } from 'vitest';
import { signToken, verifyToken } from '../../src/tokens/tokens.js';
import { resolveSecret } from '../../src/tokens/secret.js';

const SECRET = 'GTtx4Fxiw-XW8QMt-3peYG92aD0muQzNAC_TTF6YWO0';
const now = 1_800_000_000;

describe('tokens', () => {
  const token = signToken(SECRET, { email: 'ana@example.org', purpose: 'unsubscribe', expires: now + 60 });

  it('verifies a token for its purpose', () => {
    expect(verifyToken(SECRET, token, 'unsubscribe', now)).toEqual({
      ok: true,
      claims: { email: 'ana@example.org', purpose: 'unsubscribe', expires: now + 60 },
    });
  });

  it('refuses tampered, forged, wrong-purpose and expired tokens', () => {
    const [v, payload, sig] = token.split('.');
    const otherPayload = Buffer.from(JSON.stringify({ e: 'eve@example.org', p: 'unsubscribe', x: now + 60 })).toString('base64url');
    expect(verifyToken(SECRET, `${v}.${otherPayload}.${sig}`, 'unsubscribe', now)).toEqual({ ok: false, reason: 'bad-signature' });
    expect(verifyToken('b'.repeat(40), token, 'unsubscribe', now)).toEqual({ ok: false, reason: 'bad-signature' });
    expect(verifyToken(SECRET, `${v}.${payload}.${sig!.slice(0, -2)}xx`, 'unsubscribe', now).ok).toBe(false);
    expect(verifyToken(SECRET, token, 'manage', now)).toEqual({ ok: false, reason: 'wrong-purpose' });
    expect(verifyToken(SECRET, token, 'unsubscribe', now + 61)).toEqual({ ok: false, reason: 'expired' });
    expect(verifyToken(SECRET, 'garbage', 'unsubscribe', now)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('takes the secret only from the environment, with a development fallback only where allowed', () => {
    expect(resolveSecret({ S: SECRET }, 'S', 'real-mail')).toEqual({ secret: SECRET, development: false });
    expect(resolveSecret({}, 'S', 'local').development).toBe(true);
    expect(() => resolveSecret({}, 'S', 'real-mail')).toThrow(/environment variable S \(tokens\.secretEnv\) is not set/);
    expect(() => resolveSecret({ S: 'short' }, 'S', 'real-mail')).toThrow(/at least 32/);
  });
});
