import { readFile } from 'node:fs/promises';
import { InputError } from './errors.js';

/** Line and column (1-based) of a character offset, for error messages. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/** Reads and parses a JSON file; a syntax error names the file, line and column. */
export async function readJsonFile(file: string, what: string, hint?: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, hint);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const position = /position (\d+)/.exec(message)?.[1];
    const where = position ? `:${lineColumn(text, Number(position)).line}` : '';
    throw new InputError(`${file}${where}: ${what} is not valid JSON (${message})`, 'Fix the JSON syntax at that line.');
  }
}
