import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';
import { cli, makeProject } from './cli-helpers.js';
import { scaled } from '../timeouts.js';

const OFF_TOPIC = `
## 2025-11-20

*Date Range: [2025-11-19, 2025-11-20)*

### Token Pruning for Faster Video LLMs

**Authors:** A. Writer

**Link:** https://arxiv.org/abs/2511.99001

**Abstract:**

We prune redundant visual tokens of long videos, cutting latency in half.

### On the Origin of Species

**Authors:** C. Darwin

**Link:** https://arxiv.org/abs/2511.99002

**Abstract:**

Finches on islands differ in the shape of their beaks.
`;

describe('digest-mailer topics', { timeout: scaled(120_000) }, () => {
  it('explain: every paper with its topics, evidence and scores, and the papers with none', async () => {
    const dir = await makeProject();
    await appendFile(join(dir, 'digests/2025-11.md'), OFF_TOPIC);
    const out = await cli(dir, ['topics', 'explain', '--section', '2025-11-20']);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^\[1\] 2511\.99001  Token Pruning for Faster Video LLMs$/m);
    expect(out.stdout).toMatch(/^ {4}\+ efficiency +score \d\.\d\d {2}points +\d+(\.\d+)? {2}.*"pruning" \(title \+\d/m);
    expect(out.stdout).toMatch(/^ {4}\+ video .*"video" \(title/m);
    expect(out.stdout).toMatch(/^\[2\] 2511\.99002  On the Origin of Species\n {4}\(no topic\)$/m);
    expect(out.stdout).toMatch(/^No topic \(1\): \[2\] On the Origin of Species$/m);

    const one = await cli(dir, ['topics', 'explain', '--section', '2025-11-13', '--paper', '1', '--json']);
    expect(one.code).toBe(0);
    const json = JSON.parse(one.stdout);
    expect(json.papers).toHaveLength(1);
    expect(json.papers[0]).toMatchObject({ n: 1, id: '2511.09396', topics: expect.arrayContaining(['multilingual']) });
    // A single paper shows every topic's verdict, given or not, with the reason it was not.
    expect(json.papers[0].verdicts.length).toBe(12);
    const notGiven = json.papers[0].verdicts.find((v: { given: boolean }) => !v.given);
    expect(notGiven.note).toMatch(/< /);
    const given = json.papers[0].verdicts.find((v: { id: string }) => v.id === 'multilingual');
    expect(given.terms).toContainEqual(expect.objectContaining({ term: 'Basque', field: 'title' }));
  });

  it('explain: unknown section or paper number is a clear error with exit 1', async () => {
    const dir = await makeProject();
    const none = await cli(dir, ['topics', 'explain', '--section', '2099-01-01']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no section 2099-01-01 in .*digests\n {2}-> Known sections: 2025-11-03, /);
    expect(none.stderr).not.toMatch(/at .*\.ts:\d+/);
    const badPaper = await cli(dir, ['topics', 'explain', '--section', '2025-11-13', '--paper', '99']);
    expect(badPaper.code).toBe(1);
    expect(badPaper.stderr).toMatch(/--paper 99: section 2025-11-13 has papers 1 to 4/);
  });

  it('eval: precision, recall and per-topic figures on a labelled file, inline papers or a digest', async () => {
    const dir = await makeProject();
    await writeFile(
      join(dir, 'labelled.json'),
      JSON.stringify({
        labels: { a: ['video', 'efficiency'], b: ['trust-safety'], c: [] },
        acceptable: { a: ['benchmarks'] },
        papers: [
          { id: 'a', title: 'Token Pruning for Faster Video LLMs', abstract: 'We prune redundant visual tokens of long videos, cutting latency in half.' },
          { id: 'b', title: 'Jailbreaking Vision-Language Models with Typography', abstract: 'Typographic images bypass safety alignment.' },
          { id: 'c', title: 'On the Origin of Species', abstract: 'Finches.' },
        ],
      }),
    );
    const out = await cli(dir, ['topics', 'eval', 'labelled.json']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^3 papers: precision 1\.000, recall 1\.000 \(3 right, 0 extra, 0 missed\)$/m);
    expect(out.stdout).toMatch(/^ {2}video +1\.000 +1\.000 +1 +0 +0$/m);
    expect(out.stdout).toMatch(/^Papers with no topic: 1$/m);

    const seed = await cli(dir, ['topics', 'eval', join(ROOT, 'test/fixtures/seed-topics.json'), '--digest', 'digests/2025-11.md', '--json']);
    expect(seed.code).toBe(0);
    const e = JSON.parse(seed.stdout);
    expect(e.papers).toBe(42);
    expect(e.precision).toBeGreaterThanOrEqual(0.83);
    expect(Object.keys(e.perTopic)).toHaveLength(12);

    const labelsOnly = await cli(dir, ['topics', 'eval', join(ROOT, 'test/fixtures/seed-topics.json')]);
    expect(labelsOnly.code).toBe(1);
    expect(labelsOnly.stderr).toMatch(/has labels but no "papers"\n {2}-> Give the digest the labels refer to with --digest FILE/);
    await writeFile(join(dir, 'typo.json'), JSON.stringify({ labels: { zz: ['video'] }, papers: [{ id: 'a', title: 'T' }] }));
    const typo = await cli(dir, ['topics', 'eval', 'typo.json']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/typo\.json: labels\.zz names a paper that is not in the file/);
  });
});
