import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { matcherFor, preferenceKey, selectPapers, type Preferences, type SelectedPaper } from '../../src/audience/select.js';
import { LayoutCompiler } from '../../src/render/mjml-layout.js';
import { makePlaceholders, toFillable } from '../../src/render/personalise.js';
import { compactHtml, mjmlCompile, mjmlStats, renderVariantAtTrim, variantKey } from '../../src/render/render.js';
import { compileTemplates, readTemplateSources, type CompiledTemplates } from '../../src/render/templates.js';
import type { Trim } from '../../src/render/view.js';
import { generateSubscribers } from '../../bench/population.js';
import { NO_PREFS, ROOT, classified, seedRenderSettings, seedSections, seedTaxonomy } from '../helpers.js';
import { scaled } from '../timeouts.js';

const templatesDir = join(ROOT, 'templates');
const sources = await readTemplateSources(templatesDir);
const settings = seedRenderSettings({ list: { name: 'Multimodal LLM Digest', postalAddress: '1 Rue & "Quai", Paris' } });
const whole = mjmlCompile(templatesDir);

/** Templates that remember the MJML source of their last render, to compile it whole beside. */
function recording(): { templates: CompiledTemplates; last: () => string } {
  const compiled = compileTemplates(sources);
  let last = '';
  return { templates: { ...compiled, mjml: (view: unknown) => (last = compiled.mjml(view)) }, last: () => last };
}

describe('MJML compiled per layout, paper sets assembled from it', () => {
  it('gives the bytes of a whole compile for every seed section, generated paper set and trim level', async () => {
    const { templates, last } = recording();
    const taxonomy = seedTaxonomy();
    const cases: { section: ReturnType<typeof seedSections>[number]; selected: SelectedPaper[] }[] = [];
    for (const section of seedSections().filter((s) => s.papers.length > 0)) {
      const papers = classified(section);
      const mixes: Preferences[] = [NO_PREFS, { ...NO_PREFS, topics: ['video', 'reasoning'] }, { ...NO_PREFS, authors: papers.flatMap((p) => p.authors).slice(-3), keywords: ['model'] }];
      for (const prefs of mixes) {
        const selected = selectPapers(papers, prefs);
        if (selected.length) cases.push({ section, selected });
      }
    }
    // Distinct paper sets of a generated list on the largest section (followed authors, exclusions).
    const largest = seedSections().find((s) => s.date === '2025-11-12')!;
    const papers = classified(largest);
    const keys = new Set<string>();
    const byPrefs = new Map<string, SelectedPaper[]>();
    for (const s of generateSubscribers(300, { topicIds: taxonomy.topics.map((t) => t.id), sections: [largest] }, 11)) {
      const key = preferenceKey(s);
      if (!byPrefs.has(key)) byPrefs.set(key, matcherFor(s).select(papers));
      const selected = byPrefs.get(key)!;
      if (!selected.length || keys.has(variantKey(selected))) continue;
      keys.add(variantKey(selected));
      if (keys.size <= 60) cases.push({ section: largest, selected });
    }

    const placeholders = makePlaceholders();
    let compared = 0;
    for (const [i, { section, selected }] of cases.entries()) {
      // Every trim level of the ladder appears, including fewer papers in full with a "more" list.
      const trims: Trim[] = [
        { abstractChars: null, fullPapers: selected.length },
        { abstractChars: [700, 350, 0][i % 3]!, fullPapers: selected.length },
        ...(selected.length > 2 ? [{ abstractChars: 0, fullPapers: 1 + (i % (selected.length - 1)) }] : []),
      ];
      for (const trim of trims) {
        const variant = await renderVariantAtTrim(templates, templatesDir, section, selected, settings, trim, placeholders);
        expect(variant.html, `${section.date} ${variantKey(selected)} ${JSON.stringify(trim)}`).toEqual(toFillable(await whole(last(), false), placeholders, 'html'));
        compared++;
      }
    }
    const stats = mjmlStats(templates);
    expect(compared).toBeGreaterThan(150);
    // Assembled, not compiled: a few dozen layouts for every document compared.
    expect(stats.assembled).toBeGreaterThan(compared * 0.9);
    expect(stats.layouts).toBeLessThan(compared / 3);
  }, scaled(300_000));
});

describe('LayoutCompiler falls back to a whole compile where assembling could differ', () => {
  const doc = (css: string, text: string) => `<mjml><mj-head><mj-style inline="inline">${css}</mj-style></mj-head><mj-body><mj-section css-class="card"><mj-column>
    <mj-text padding="0"><p class="dm-note">${text}</p><p>plain</p></mj-text>
    <mj-divider />
    <mj-text><h2 class="dm-title"><a href="https://example.org/a">A</a></h2></mj-text>
  </mj-column></mj-section></mj-body></mjml>`;
  const counting = () => {
    const calls: string[] = [];
    const compile = async (source: string, strict: boolean) => {
      calls.push(source);
      return whole(source, strict);
    };
    return { calls, compile };
  };

  it('assembles documents whose inline rules stay inside their blocks', async () => {
    const { compile } = counting();
    const compiler = new LayoutCompiler(compile, undefined, compactHtml);
    const css = '.dm-note { color: red; } .dm-title a { color: blue; } p { margin: 0; }';
    for (const text of ['one', 'two', 'three & <em>four</em>']) {
      expect(await compiler.compile(doc(css, text), 's')).toBe(await whole(doc(css, text), false));
    }
    expect(compiler.stats).toMatchObject({ layouts: 1, whole: 1, assembled: 3 });
    expect(compiler.disabledBecause).toBeNull();
  });

  it('inlines a block inside the layout elements around it, so rules naming them match as in the whole document', async () => {
    const compiler = new LayoutCompiler(counting().compile, undefined, compactHtml);
    // ".card" is a class of the layout (mj-section css-class), not of the block.
    const css = '.card p { color: red; } .card .dm-note { font-weight: bold; }';
    for (const text of ['one', 'two']) expect(await compiler.compile(doc(css, text), 's')).toBe(await whole(doc(css, text), false));
    expect(compiler.stats.assembled).toBe(2);
    expect(await compiler.compile(doc(css, 'three'), 's')).toContain('color:red');
  });

  it('compiles whole when a rule looks at siblings across compounds', async () => {
    const compiler = new LayoutCompiler(counting().compile, undefined, compactHtml);
    const css = '.dm-note + p { color: red; }';
    for (const text of ['one', 'two']) expect(await compiler.compile(doc(css, text), 's')).toBe(await whole(doc(css, text), false));
    expect(compiler.stats.assembled).toBe(0);
  });

  it('compiles whole a block holding template syntax juice would protect across elements', async () => {
    const compiler = new LayoutCompiler(counting().compile, undefined, compactHtml);
    const css = '.dm-note { color: red; }';
    await compiler.compile(doc(css, 'first'), 's');
    expect(await compiler.compile(doc(css, 'a {{ b'), 's')).toBe(await whole(doc(css, 'a {{ b'), false));
    expect(compiler.stats.whole).toBe(2);
  });

  it('turns itself off, says why, and keeps giving the whole compile when a check finds a difference', async () => {
    const reasons: string[] = [];
    // A compiler whose layouts come out different from the whole document.
    const compiler = new LayoutCompiler(async (source, strict) => (await whole(source, strict)) + (source.includes('@@dmblock') ? '<!-- layout -->' : ''), (r) => reasons.push(r), compactHtml);
    const css = '.dm-note { color: red; }';
    expect(await compiler.compile(doc(css, 'one'), 's')).toBe(await whole(doc(css, 'one'), false));
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/differs from the whole compile/);
    expect(await compiler.compile(doc(css, 'two'), 's')).toBe(await whole(doc(css, 'two'), false));
    expect(compiler.stats.assembled).toBe(1); // the check, nothing after it
  });
});
