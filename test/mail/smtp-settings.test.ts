import { describe, expect, it } from 'vitest';
import { ehloName } from '../../src/mail/transports/smtp.js';

describe('EHLO name', () => {
  it('transport.name wins', () => {
    expect(ehloName({ name: 'mailer.example.org' }, 'digest@example.org', 'box.example.net')).toBe('mailer.example.org');
  });
  it("the host's name when it is a full domain name", () => {
    expect(ehloName({}, 'digest@example.org', 'box.example.net')).toBe('box.example.net');
  });
  it('the From domain on a host without a full domain name, never an address literal', () => {
    expect(ehloName({}, 'digest@example.org', 'buildbox')).toBe('example.org');
    expect(ehloName({}, 'digest@example.org', 'localhost')).toBe('example.org');
    expect(ehloName({}, 'digest@example.org', 'laptop.local')).toBe('example.org');
    expect(ehloName({}, 'digest@example.org', '127.0.0.1')).toBe('example.org');
  });
});
