import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_LINE_CHARS, capLongLines, mergeDigests, parseDigest } from '../../src/digest/parse.js';
import { ROOT, seedSections } from '../helpers.js';

const variants = () =>
  parseDigest(readFileSync(join(ROOT, 'test/fixtures/digests/variants.md'), 'utf8'), 'variants.md');

describe('parse: the seed digest', () => {
  const sections = seedSections();

  it('finds the 8 dated sections and 42 papers', () => {
    expect(sections.map((s) => s.date)).toEqual([
      '2025-11-03', '2025-11-04', '2025-11-05', '2025-11-06', '2025-11-07', '2025-11-10', '2025-11-12', '2025-11-13',
    ]);
    expect(sections.map((s) => s.papers.length)).toEqual([4, 4, 2, 1, 7, 2, 18, 4]);
  });

  it('reads every field of every paper', () => {
    for (const paper of sections.flatMap((s) => s.papers)) {
      expect(paper.title.text.length, paper.source).toBeGreaterThan(10);
      expect(paper.authors.length, paper.source).toBeGreaterThan(0);
      expect(paper.link, paper.source).toMatch(/^https:\/\/arxiv\.org\/pdf\/\d{4}\.\d{5}$/);
      expect(paper.id, paper.source).toMatch(/^\d{4}\.\d{5}$/);
      expect(paper.motivation?.text.length, paper.source).toBeGreaterThan(20);
      expect(paper.method?.text.length, paper.source).toBeGreaterThan(20);
      expect(paper.abstract?.text.length, paper.source).toBeGreaterThan(200);
      expect(paper.extra).toEqual({});
    }
  });

  it('keeps the arXiv window and where each section and paper starts', () => {
    const first = sections[0]!;
    expect(first.range).toEqual({ from: '2025-10-31', to: '2025-11-03' });
    expect(first.source).toBe('digests/2025-11.md:1');
    expect(first.papers[0]!.source).toBe('digests/2025-11.md:5');
    expect(first.papers[0]!.title.text).toBe('ToolScope: An Agentic Framework for Vision-Guided and Long-Horizon Tool Use');
    expect(first.papers[0]!.authors).toEqual(['Mengjie Deng', 'Guanting Dong', 'Zhicheng Dou']);
    expect(sections[7]!.source).toBe('digests/2025-11.md:713');
  });

  it('turns the LaTeX-isms of the seed into clean text and HTML', () => {
    const all = sections.flatMap((s) => s.papers);
    for (const paper of all) {
      for (const field of [paper.title, paper.motivation, paper.method, paper.abstract]) {
        expect(field?.text, paper.source).not.toMatch(/\\[a-zA-Z%]/);
        expect(field?.html, paper.source).not.toMatch(/\\[a-zA-Z%]/);
      }
    }
    const tir = all.find((p) => p.id === '2511.01833')!;
    expect(tir.abstract!.html).toContain('<strong>TIR-Bench</strong>');
    expect(tir.abstract!.html).toContain('thinking-<em>with</em>-images');
    const jee = all.find((p) => p.id === '2511.09339')!;
    expect(jee.abstract!.text).toContain('78-85% accuracy');
    const dc = all.find((p) => p.id === '2511.08263')!;
    expect(dc.abstract!.text).toContain('4× less condensation time');
    const univa = all.find((p) => p.id === '2511.08521')!;
    expect(univa.abstract!.text).toContain('generation → multi-round editing');
  });

  it('hashes sections so an edit is visible, but not a change of line endings', () => {
    const text = readFileSync(join(ROOT, 'digests/2025-11.md'), 'utf8');
    const crlf = parseDigest(text.replace(/\n/g, '\r\n'), 'x.md').sections;
    const edited = parseDigest(text.replace('Enabling MLLMs to flexibly', 'Letting MLLMs flexibly'), 'x.md').sections;
    const original = parseDigest(text, 'x.md').sections;
    expect(crlf.map((s) => s.hash)).toEqual(original.map((s) => s.hash));
    expect(edited[0]!.hash).not.toBe(original[0]!.hash);
    expect(edited.slice(1).map((s) => s.hash)).toEqual(original.slice(1).map((s) => s.hash));
  });
});

describe('parse: real-world variants', () => {
  it('keeps good sections and reports each malformed one with file:line', () => {
    const { sections, problems } = variants();
    expect(sections.map((s) => s.date)).toEqual(['2025-12-01', '2025-12-02', '2099-01-01', '2025-12-05']);
    expect(problems).toHaveLength(2);
    expect(problems[0]!.where).toBe('variants.md:61');
    expect(problems[0]!.message).toMatch(/section 2025-12-03 \(line 53\) skipped: the link of "Broken Link Paper" is not an http\(s\) URL/);
    expect(problems[1]!.where).toBe('variants.md:81');
    expect(problems[1]!.message).toMatch(/"## Not a date" is not a date/);
  });

  it('tolerates a missing field', () => {
    const paper = variants().sections[0]!.papers[0]!;
    expect(paper.motivation?.text).toBe('It has a motivation and nothing else.');
    expect(paper.method).toBeNull();
    expect(paper.abstract).toBeNull();
  });

  it('keeps extra fields, multi-paragraph fields, inline Markdown and non-Latin names', () => {
    const paper = variants().sections[0]!.papers[1]!;
    expect(paper.id).toBe('2512.00002');
    expect(paper.title.html).toBe('Extra Fields and <em>Inline</em> Markdown in <code>Fields</code>');
    expect(paper.title.text).toBe('Extra Fields and Inline Markdown in Fields');
    expect(paper.authors).toEqual(['Ana López', 'Björn Østergaard', '李明', 'محمد علي']);
    expect(paper.motivation!.html).toBe(
      'Inline on the same line, with <strong>bold</strong>, <em>emphasis</em>, <code>code</code> and a <a href="https://example.org/x">link</a>.',
    );
    expect(paper.motivation!.text).toBe('Inline on the same line, with bold, emphasis, code and a link (https://example.org/x).');
    expect(paper.method!.text).toBe('First paragraph of the method.\n\nSecond paragraph of the method.');
    expect(Object.keys(paper.extra)).toEqual(['Code', 'Venue']);
    expect(paper.extra.Code!.text).toBe('https://github.com/example/repo');
    expect(paper.extra.Venue!.text).toBe('NeurIPS 2025');
  });

  it('cleans LaTeX-isms in text and HTML', () => {
    const abstract = variants().sections[0]!.papers[1]!.abstract!;
    expect(abstract.text).toBe(
      'We report 78-85% accuracy with BoldName and with, emph, × 4× faster, → arrows, O(n²) cost and LLaVA-1.5.',
    );
    expect(abstract.html).toContain('<strong>BoldName</strong>');
    expect(abstract.html).toContain('<em>with</em>');
    expect(abstract.html).toContain('<code>LLaVA-1.5</code>');
    expect(abstract.html).not.toContain('\\');
  });

  it('escapes quotes, angle brackets and script tags from titles in HTML', () => {
    const paper = variants().sections[0]!.papers[2]!;
    expect(paper.title.text).toBe('Quotes "and" <Angle> Brackets & <script>alert(1)</script> in a Title');
    expect(paper.title.html).not.toContain('<script>');
    expect(paper.title.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(paper.title.html).toContain('&quot;and&quot; &lt;Angle&gt; Brackets &amp;');
  });

  it('returns an empty section with no papers, and a future section like any other', () => {
    const { sections } = variants();
    expect(sections.find((s) => s.date === '2025-12-02')!.papers).toEqual([]);
    expect(sections.find((s) => s.date === '2099-01-01')!.papers).toHaveLength(1);
  });

  it('parses a file with CRLF line endings exactly like LF', () => {
    const text = readFileSync(join(ROOT, 'test/fixtures/digests/variants.md'), 'utf8');
    const lf = parseDigest(text, 'v.md');
    const crlf = parseDigest(text.replace(/\n/g, '\r\n'), 'v.md');
    expect(crlf.problems).toEqual(lf.problems);
    expect(crlf.sections).toEqual(lf.sections);
  });

  it('reports a paper outside any section', () => {
    const { sections, problems } = parseDigest('### Lost Paper\n\n**Link:** https://arxiv.org/abs/1\n\n## 2025-01-02\n\n### Found\n', 'lost.md');
    expect(sections.map((s) => s.date)).toEqual(['2025-01-02']);
    expect(problems[0]).toMatchObject({ where: 'lost.md:1', message: expect.stringMatching(/outside any dated section/) });
  });

  it('rejects an unreadable date range and an impossible date', () => {
    const { sections, problems } = parseDigest(
      '## 2025-02-30\n\n### A\n\n## 2025-03-01\n\n*Date Range: [yesterday, today)*\n\n### B\n\n## 2025-03-02\n\n### C\n',
      'd.md',
    );
    expect(sections.map((s) => s.date)).toEqual(['2025-03-02']);
    expect(problems.map((p) => p.where)).toEqual(['d.md:1', 'd.md:7']);
  });
});

describe('merge: the same date in two files', () => {
  it('is an error naming both files, and neither copy is used', () => {
    const a = parseDigest('## 2025-11-03\n\n### One\n\n## 2025-11-04\n\n### Two\n', 'digests/a.md');
    const b = parseDigest('# B\n\n## 2025-11-04\n\n### Two again\n', 'digests/b.md');
    const merged = mergeDigests([a, b]);
    expect(merged.sections.map((s) => s.date)).toEqual(['2025-11-03']);
    expect(merged.problems).toHaveLength(1);
    expect(merged.problems[0]!.where).toBe('digests/a.md:5 and digests/b.md:3');
    expect(merged.problems[0]!.message).toMatch(/2025-11-04 appears 2 times/);
  });
});

describe('parse: an overlong line', () => {
  const seed = readFileSync(join(ROOT, 'digests/2025-11.md'), 'utf8');

  it('reads at most MAX_LINE_CHARS of a line and keeps every line number and the rest of the file', () => {
    // A 1 MB abstract on one line, ending in an emoji that straddles the cut, then a broken paper further down.
    const huge = 'lorem ipsum dolor sit amet, '.repeat(40_000);
    const cutAt = MAX_LINE_CHARS - 1;
    const line = huge.slice(0, cutAt) + '😀' + huge.slice(cutAt);
    const markdown = seed.replace('**Abstract:**\n\n', `**Abstract:**\n\n${line} `) + '\n## 2025-11-30\n\n### Broken Link Paper\n\n**Authors:** A. Person\n\n**Link:** not a url at all\n';
    const whole = parseDigest(markdown, 'big.md');
    const plain = parseDigest(seed + '\n## 2025-11-30\n\n### Broken Link Paper\n\n**Authors:** A. Person\n\n**Link:** not a url at all\n', 'big.md');
    const abstract = whole.sections[0]!.papers[0]!.abstract!.text;
    expect(abstract.length).toBeLessThanOrEqual(MAX_LINE_CHARS + 2_000);
    expect(abstract.startsWith('lorem ipsum dolor sit amet, lorem')).toBe(true);
    // The emoji's first half would be a lone surrogate: the cut goes before the pair.
    expect(/[\ud800-\udbff](?![\udc00-\udfff])/.test(abstract)).toBe(false);
    expect(whole.sections.map((s) => s.date)).toEqual(plain.sections.map((s) => s.date));
    expect(whole.sections.flatMap((s) => s.papers).length).toBe(plain.sections.flatMap((s) => s.papers).length);
    // Same lines: problems further down name the same line as without the long line.
    expect(whole.problems.map((p) => p.where)).toEqual(plain.problems.map((p) => p.where));
    expect(whole.problems.length).toBeGreaterThan(0);
  });

  it('leaves a file without overlong lines exactly as it is', () => {
    expect(capLongLines(seed)).toBe(seed);
    expect(capLongLines('a\nbbbb\r\ncc\n', 3)).toBe('a\nbbb\ncc\n');
    expect(capLongLines('ab\n\ncd', 3)).toBe('ab\n\ncd');
  });
});
