import { stemmer } from 'stemmer';

/** One word of a paper's text, as written and as its Porter stem. */
export interface Token {
  /** As written ("LLMs", "3D"). */
  raw: string;
  /** Lower-cased stem ("llm", "3d"); plural, -ing and -ed forms share one stem. */
  stem: string;
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
 * Words in reading order. Hyphens and slashes split words, so "chain-of-thought" is the three
 * words of "chain of thought" and a phrase matches however it is hyphenated.
 */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  for (const m of text.matchAll(WORD)) out.push({ raw: m[0], stem: stemWord(m[0]) });
  return out;
}
