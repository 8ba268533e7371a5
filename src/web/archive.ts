import { join } from 'node:path';
import type { Config } from '../config/load.js';
import { loadDigests } from '../digest/load.js';
import type { Section } from '../digest/types.js';
import type { Store } from '../store/store.js';
import { classifyPaper, compileTaxonomy, type ClassifiedPaper, type CompiledTaxonomy } from '../topics/classify.js';
import type { Taxonomy } from '../topics/schema.js';

/** A section that went out: what the archive and the feeds publish. */
export interface PublishedSection {
  section: Section;
  papers: ClassifiedPaper[];
  /** When its sending finished (ISO): the feed entries' time. */
  sentAt: string;
}

/** Digests are read again at most this often (a burst of requests reads them once). */
const RELOAD_MS = 1_000;

/**
 * The sections `serve` publishes, from the two places that decide it: the store says which
 * were sent (only those: a section still sending, not yet sent or before the start is not
 * published), the digest files hold their text. Digest files are re-read at most every second
 * (parsed results are cached by content hash), papers classified once per section text.
 */
export class Archive {
  private compiled: Promise<CompiledTaxonomy> | null = null;
  private readonly classified = new Map<string, ClassifiedPaper[]>();
  private sections: { at: number; loading: Promise<Map<string, Section>> } | null = null;

  constructor(
    private readonly config: Config,
    private readonly store: Store,
    /** Topic ids and labels (the feeds, the pages). */
    readonly taxonomy: Taxonomy,
    /** The taxonomy with its learned weights, to classify papers as a run does. */
    private readonly classifier: () => Promise<Taxonomy> = async () => taxonomy,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Every published section, newest first. */
  async published(): Promise<PublishedSection[]> {
    const [sent, sections] = await Promise.all([this.store.sentSections(), this.digestSections()]);
    const out: PublishedSection[] = [];
    for (const record of sent) {
      const section = sections.get(record.date);
      // A sent section whose text is gone from the digests cannot be shown: left out.
      if (section && section.papers.length > 0) out.push(await this.publish(section, record.sentAt ?? `${record.date}T00:00:00.000Z`));
    }
    return out.sort((a, b) => b.section.date.localeCompare(a.section.date));
  }

  /** One published section, or undefined when it is not published (unknown, not sent yet). */
  async issue(date: string): Promise<PublishedSection | undefined> {
    return (await this.published()).find((p) => p.section.date === date);
  }

  /**
   * A section some readers already have, published or not yet (still sending): for a reader's
   * own signed link, which must work from the moment their email arrives.
   */
  async delivered(date: string): Promise<PublishedSection | undefined> {
    const record = await this.store.section(date);
    if (record?.status !== 'sent' && record?.status !== 'sending') return undefined;
    const section = (await this.digestSections()).get(date);
    return section ? this.publish(section, record.sentAt ?? record.openedAt ?? record.at) : undefined;
  }

  private async publish(section: Section, sentAt: string): Promise<PublishedSection> {
    let papers = this.classified.get(section.hash);
    if (!papers) {
      const compiled = await this.compiledTaxonomy();
      this.classified.set(section.hash, (papers = section.papers.map((p) => classifyPaper(p, compiled))));
    }
    return { section, papers, sentAt };
  }

  private compiledTaxonomy(): Promise<CompiledTaxonomy> {
    const loading = (this.compiled ??= this.classifier().then(compileTaxonomy));
    loading.catch(() => {
      if (this.compiled === loading) this.compiled = null; // a broken model file: tried again next time
    });
    return loading;
  }

  private digestSections(): Promise<Map<string, Section>> {
    const now = this.clock();
    if (!this.sections || now - this.sections.at >= RELOAD_MS) {
      const loading = loadDigests(this.config.paths.digests, {
        maxFileBytes: this.config.limits.maxDigestFileBytes,
        cacheDir: join(this.config.paths.state, 'cache', 'digests'),
      }).then((result) => new Map(result.sections.map((s) => [s.date, s])));
      // A failed read is not kept: the next request tries again.
      loading.catch(() => {
        if (this.sections?.loading === loading) this.sections = null;
      });
      this.sections = { at: now, loading };
    }
    return this.sections.loading;
  }
}
