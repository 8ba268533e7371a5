/** A piece of digest text in both forms an email needs: plain text and safe (escaped) HTML. */
export interface RichText {
  text: string;
  html: string;
}

export interface Paper {
  /** arXiv id when the link has one (e.g. "2511.01833"), else a short hash of the title. */
  id: string;
  title: RichText;
  authors: string[];
  /** An http(s) URL, or null when the entry has no Link field. */
  link: string | null;
  motivation: RichText | null;
  method: RichText | null;
  abstract: RichText | null;
  /** Fields this parser does not know, by their label as written ("Code", "Venue"...). Kept, not lost. */
  extra: Record<string, RichText>;
  /** `file:line` of the paper's heading. */
  source: string;
}

export interface DateRange {
  /** First day covered (inclusive), YYYY-MM-DD. */
  from: string;
  /** Day after the last one covered (exclusive), YYYY-MM-DD. */
  to: string;
}

export interface Section {
  /** YYYY-MM-DD from the `## ` heading. */
  date: string;
  range: DateRange | null;
  /** `file:line` of the `## ` heading. */
  source: string;
  /** sha256 of the section's Markdown with line endings normalised: tells an edit after sending. */
  hash: string;
  papers: Paper[];
  /**
   * Only on a roll-up (a weekly reader's email, src/run/rollup.ts): the days its papers come
   * from, in order, with how many of the email's papers (in their order) each holds; headlines
   * are grouped under them. `papers` then holds every paper of the sections rolled up and
   * `date` is the last day.
   */
  days?: RollUpDayCount[] | undefined;
}

export interface RollUpDayCount {
  date: string;
  count: number;
}
