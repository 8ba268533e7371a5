import { topicProblem } from '../audience/load.js';
import type { Subscriber } from '../audience/schema.js';
import type { Config } from '../config/load.js';
import type { Section } from '../digest/types.js';
import { UserError, type Problem } from '../errors.js';
import { loadInputs, renderSettings, type Inputs } from '../run/context.js';
import { VariantCache } from '../run/deliver.js';
import type { Store } from '../store/store.js';
import { classifyPaper, type ClassifiedPaper } from '../topics/classify.js';
import { audienceStats, type AudienceStats } from './stats.js';
import type { ChangeWatcher } from './watch.js';

/** What the preview derived from the files, valid until the watcher reports a change. */
export interface Loaded {
  inputs: Inputs;
  /** Classified papers per section date (classifying 18 papers costs milliseconds; done once). */
  papers(section: Section): ClassifiedPaper[];
  /** Rendered variants by paper set: a second view of the same papers costs no MJML compile. */
  variants: VariantCache;
}

interface Audience {
  version: string;
  /** One example per distinct preference set and how many active subscribers share it. */
  groups: { subscriber: Subscriber; count: number }[];
  problems: Problem[];
  stats: Map<string, AudienceStats>;
}

/**
 * The preview's inputs, loaded once and kept: digests, templates and topics until the file
 * watcher reports a change; what it derives from the subscribers (statistics over preference
 * groups) until the store's subscriber version changes. So a view costs one small version query
 * and the render of one email, not a reload of every input and subscriber per request.
 */
export class PreviewState {
  private loaded: Promise<Loaded> | null = null;
  private audience: Promise<Audience> | null = null;
  /** Without a watcher nothing would tell of a change: everything is loaded per request then. */
  private readonly keepFresh: boolean;

  constructor(
    private readonly config: Config,
    private readonly store: Store,
    watcher: ChangeWatcher | undefined,
  ) {
    // Registered before any page's live-reload listener, so a reloading page finds fresh inputs.
    watcher?.on('change', () => this.invalidate());
    this.keepFresh = watcher === undefined;
  }

  invalidate(): void {
    this.loaded = null;
    this.audience = null;
  }

  /** The inputs, or the user-facing error that kept them from loading (shown in the page). */
  async inputs(): Promise<{ loaded: Loaded } | { error: string }> {
    if (this.keepFresh) this.invalidate();
    const loading = (this.loaded ??= this.load());
    try {
      return { loaded: await loading };
    } catch (err) {
      // Not kept: the next request tries again (the file may be fixed by then, watcher or not).
      if (this.loaded === loading) this.loaded = null;
      if (err instanceof UserError) return { error: `${err.message}${err.hint ? `\n-> ${err.hint}` : ''}` };
      throw err;
    }
  }

  private async load(): Promise<Loaded> {
    const inputs = await loadInputs(this.config);
    const classified = new Map<string, ClassifiedPaper[]>();
    return {
      inputs,
      papers: (section) => {
        let papers = classified.get(section.date);
        if (!papers) classified.set(section.date, (papers = section.papers.map((p) => classifyPaper(p, inputs.compiledTaxonomy))));
        return papers;
      },
      variants: new VariantCache(inputs.templates, this.config.paths.templates, renderSettings(this.config, inputs.taxonomy)),
    };
  }

  /** Who gets what for a section, over every active subscriber, recomputed only when the list changed. */
  async stats(loaded: Loaded, section: Section): Promise<AudienceStats> {
    const audience = await this.currentAudience(loaded);
    let stats = audience.stats.get(section.date);
    if (!stats) audience.stats.set(section.date, (stats = audienceStats(loaded.papers(section), audience.groups)));
    return stats;
  }

  /** Stored subscribers that cannot be used: reported on the index. */
  async audienceProblems(loaded: Loaded): Promise<Problem[]> {
    return (await this.currentAudience(loaded)).problems;
  }

  private async currentAudience(loaded: Loaded): Promise<Audience> {
    const version = await this.store.subscribersVersion();
    const cached = this.audience ? await this.audience.catch(() => null) : null;
    if (cached?.version === version) return cached;
    const loading = this.loadAudience(loaded, version);
    this.audience = loading;
    return loading;
  }

  private async loadAudience(loaded: Loaded, version: string): Promise<Audience> {
    const topicIds = new Set(loaded.inputs.taxonomy.topics.map((t) => t.id));
    const { groups, problems } = await this.store.preferenceGroups('active');
    const usable: Audience['groups'] = [];
    for (const { example, count } of groups) {
      const problem = topicProblem(example, topicIds);
      if (!problem) usable.push({ subscriber: example, count });
      else problems.push({ where: count > 1 ? `subscriber ${example.email} and ${count - 1} more with the same preferences` : `subscriber ${example.email}`, ...problem });
    }
    return { version, groups: usable, problems, stats: new Map() };
  }
}
