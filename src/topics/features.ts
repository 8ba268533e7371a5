import type { Token } from './text.js';
import type { PaperField } from './schema.js';

// Function words carry no topic; they are left out of the learned features.
const STOP = new Set(
  ('a an and are as at be by can do doe for from ha have how in into is it it\' its of on or our so such than that the their them then there these thi '
    + 'those to under up us via wa we what when where which while who whi with within without both each more most not onli other over same some through '
    + 'also all ani been being between can cannot could did do dure further here if mai mani may might must need new on one ar show shown '
    + 'sinc still thu two three use us well would yet approach method propos paper present work result experi demonstr extens achiev improv '
    + 'perform state art base effect novel exist framework model task data')
    .split(/\s+/),
);

export interface FeatureHit {
  field: PaperField;
  /** The words as written, for the evidence line. */
  surface: string;
}

/**
 * Features of one paper for the learned part: stems and adjacent stem pairs, kept apart for
 * the title ("t:") and the body ("b:", motivation, method and abstract together), present or not.
 */
export function paperFeatures(fields: readonly { field: PaperField; tokens: readonly Token[]; contribution?: ReadonlySet<number> }[]): Map<string, FeatureHit> {
  const out = new Map<string, FeatureHit>();
  const add = (key: string, field: PaperField, surface: string) => {
    if (!out.has(key)) out.set(key, { field, surface });
  };
  for (const { field, tokens, contribution } of fields) {
    const prefix = field === 'title' ? 't:' : 'b:';
    for (let i = 0; i < tokens.length; i++) {
      const a = tokens[i]!;
      if (STOP.has(a.stem) || /^\d+$/.test(a.stem) || a.stem.length < 2) continue;
      add(prefix + a.stem, field, a.raw);
      // Words of what the paper says it contributes ("we introduce ... a dataset") also count apart.
      if (contribution?.has(i)) add(`c:${a.stem}`, field, a.raw);
      const b = tokens[i + 1];
      if (b && !STOP.has(b.stem) && !/^\d+$/.test(b.stem) && b.stem.length >= 2) add(`${prefix}${a.stem}_${b.stem}`, field, `${a.raw} ${b.raw}`);
    }
  }
  return out;
}
