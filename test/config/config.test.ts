import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ROOT } from '../helpers.js';

const example = () => JSON.parse(readFileSync(join(ROOT, 'digest-mailer.config.json'), 'utf8'));

describe('config', () => {
  it('loads the shipped config with paths made absolute', () => {
    const config = parseConfig(example(), join(ROOT, 'digest-mailer.config.json'));
    expect(config.paths.digests).toBe(join(ROOT, 'digests'));
    expect(config.transport.type).toBe('outbox');
    expect(config.baseUrl).toBe('https://digest.example.org');
  });

  it('names the key of every problem', () => {
    const raw = example();
    raw.list.from.address = 'nope';
    raw.timezone = 'Mars/Olympus';
    raw.render.maxHtmlBytes = 500_000;
    raw.tranport = { type: 'outbox' };
    let message = '';
    try {
      parseConfig(raw, 'my.json');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^my\.json is not a valid config/);
    expect(message).toMatch(/list\.from\.address: /);
    expect(message).toMatch(/timezone: is not an IANA time zone/);
    expect(message).toMatch(/render\.maxHtmlBytes: /);
    expect(message).toMatch(/tranport/);
  });
});
