import { stemmer } from 'stemmer';

/** One word of a paper's text, as written and as its Porter stem. */
export interface Token {
  /** As written ("LLMs", "3D"). */
  raw: string;
  /** Lower-cased stem ("llm", "3d"); plural, -ing and -ed forms share one stem. */
  stem: string;
  /**
   * On the first piece of a split CamelCase name: the name whole and how many pieces it spans,
   * so "deepfake" still matches "DeepFake" while "fake" matches its second piece.
   */
  whole?: { raw: string; stem: string; pieces: number };
  /** Which sentence of the text it is in, counting from 0. */
  sentence?: number;
}

const WORD = /[\p{L}\p{N}]+(?:'[\p{L}]+)?/gu;

/** Acronyms keep their meaning only in capitals: "CLIP" the model, "clip" of a video. */
export function isAcronym(word: string): boolean {
  return /\p{Lu}/u.test(word) && word === word.toUpperCase();
}

export function stemWord(word: string): string {
  const lower = word.toLowerCase().replace(/'s$/, '');
  // Plural acronyms ("LLMs", "VLMs") stem to the acronym.
  if (/^\p{Lu}{2,}s$/u.test(word)) return lower.slice(0, -1);
  return /^[a-z]+$/.test(lower) ? stemmer(lower) : lower;
}

/**
 * The words inside a CamelCase name: "UWBench" is "UW Bench", "BlendCLIP" is "Blend CLIP",
 * "DeepFake" is "Deep Fake", so a benchmark, a model family or a term named inside a paper's
 * coined name still counts. Names whose pieces are not each an acronym or a word ("MLLMs",
 * "iPhone", "LLaVA", "PartNeXt") stay whole.
 */
// A piece is an acronym ("UW", "CLIP") or a word ("Bench", "olm"), two characters at least.
const PIECE = /^(?:[\p{Lu}\p{N}]{2,}|\p{Lu}?[\p{Ll}\p{N}]{2,})$/u;

export function camelParts(word: string): string[] {
  const parts = word.split(/(?<=\p{Ll})(?=\p{Lu})|(?<=\p{Lu})(?=\p{Lu}\p{Ll}{2,})/u);
  return parts.length > 1 && parts.every((p) => PIECE.test(p)) ? parts : [word];
}

/**
 * Words in reading order. Hyphens and slashes split words, so "chain-of-thought" is the three
 * words of "chain of thought" and a phrase matches however it is hyphenated; CamelCase names
 * split into their words (camelParts).
 */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let sentence = 0;
  let end = 0;
  for (const m of text.matchAll(WORD)) {
    // A full stop, question or exclamation mark or a semicolon before a space ends a sentence ("3.0" does not).
    if (/[.!?;]["')\]]*(?:\s|$)/.test(text.slice(end, m.index))) sentence++;
    end = m.index + m[0].length;
    const parts = camelParts(m[0]);
    parts.forEach((part, i) => {
      const token: Token = { raw: part, stem: stemWord(part), sentence };
      if (i === 0 && parts.length > 1) token.whole = { raw: m[0], stem: stemWord(m[0]), pieces: parts.length };
      out.push(token);
    });
  }
  return out;
}
