import type { Config } from '../config/load.js';
import { UserError, type Problem } from '../errors.js';
import type { Store } from '../store/store.js';
import type { Dispatcher, StopReason } from '../mail/flow.js';
import type { SendFailure } from '../mail/transport.js';
import { TemplateRenderError } from '../render/render.js';
import { deliverRollups } from './rollup.js';
import type { LinkSettings } from '../tokens/links.js';
import { renderSettings, type Inputs } from './context.js';
import { deliverSection, type DeliveryContext, type DeliveryCounts, type Outcome, type SectionRole } from './deliver.js';
import { newOwnerId } from './owner.js';
import { listHourOf } from '../schedule/scheduler.js';
import { planSections, todayIn, type SectionAction, type SectionState } from './plan.js';

export interface RunOptions {
  dryRun: boolean;
  backfill: boolean;
  /** A scheduler's pass: readers without their own hour wait for the list's (the cron's) hour too. */
  scheduled?: boolean | undefined;
  only?: string | undefined;
}

export interface SectionOutcome {
  date: string;
  source: string;
  papers: number;
  /** State before this run, and what the run did about it. */
  before: SectionState;
  action: SectionAction;
  /** State after this run. */
  after: SectionState;
  counts: DeliveryCounts | null;
  variants: number;
  /** Variant renders (MJML) done; see SectionDeliveryResult.renders. */
  renders: number;
  largestHtmlBytes: number;
  changedAfterSend: boolean;
  /** Whether this process planned the section or only sent beside its planner (several workers). */
  role?: SectionRole | undefined;
  /** A roll-up (weekly readers, issue 12): `date` is its issue key, e.g. "weekly:2025-11-17". */
  rollUp?: boolean | undefined;
  /** Why the section failed (a template error), with its file:line detail, and what to do. */
  error?: string;
  errorHint?: string;
}

export interface RunSummary {
  dryRun: boolean;
  today: string;
  sections: SectionOutcome[];
  problems: Problem[];
  /** Set when the run stopped before the end (daily quota, SIGTERM); the rest stays pending. */
  stoppedEarly: StopReason | null;
  /** With stoppedEarly 'session': the server's reply, where it came, and what to check. */
  sessionFailure: SendFailure | null;
}

export interface RunDeps {
  config: Config;
  inputs: Inputs;
  store: Store;
  /** Name of the command, kept with the run record. */
  command?: string | undefined;
  /** null: dry run. */
  dispatcher: Dispatcher | null;
  links: LinkSettings;
  now: () => Date;
  concurrency: number;
  onOutcome?: (outcome: Outcome) => void;
  onPlanned?: (count: number) => void;
  onWarning?: (message: string) => void;
}

/** One pass: plan every section, record before-start/empty ones, send the due ones. */
export async function runPass(deps: RunDeps, options: RunOptions): Promise<RunSummary> {
  const { config, inputs, store } = deps;
  const dryRun = options.dryRun || deps.dispatcher === null;
  const runAt = deps.now();
  const at = runAt.toISOString();
  const today = todayIn(config.timezone, runAt);
  const plans = planSections(inputs.sections, await store.sections(), { today, backfill: options.backfill, only: options.only });

  if (options.only !== undefined) {
    const plan = plans[0];
    if (!plan) {
      throw new UserError(
        `no section dated ${options.only} in ${config.paths.digests}`,
        'Run "digest-mailer sections" to list the dates; a malformed section is listed by "digest-mailer validate".',
      );
    }
    if (plan.state === 'future') {
      throw new UserError(`section ${options.only} is dated after today (${today} in ${config.timezone}); it is sent on its day`);
    }
  }

  let runId: number | null = null;
  if (!dryRun) {
    runId = await store.startRun(at, deps.command ?? 'run');
    // Remember when each active subscriber was first seen: they get sections opened from now on.
    await store.markFirstSeen(at);
  }
  // Each unusable stored subscriber is reported once per pass, not once per section.
  const reported = new Set<string>();
  const problems: Problem[] = [...inputs.problems];
  const report = (problem: Problem) => {
    if (reported.has(problem.where)) return;
    reported.add(problem.where);
    problems.push(problem);
  };
  const topicIds = new Set(inputs.taxonomy.topics.map((t) => t.id));
  const owner = newOwnerId();

  const context: DeliveryContext = {
    config,
    templates: inputs.templates,
    taxonomy: inputs.compiledTaxonomy,
    renderSettings: renderSettings(config, inputs.taxonomy),
    links: deps.links,
    store,
    owner,
    topicIds,
    report,
    dispatcher: dryRun ? null : deps.dispatcher,
    runAt,
    concurrency: deps.concurrency,
    onOutcome: deps.onOutcome,
    onPlanned: deps.onPlanned,
    onWarning: deps.onWarning,
    timing: { list: { timeZone: config.schedule.timezone ?? config.timezone, hour: listHourOf(config.schedule.cron) }, holdForListHour: options.scheduled === true },
  };

  const outcomes: SectionOutcome[] = [];
  for (const plan of plans) {
    const { section } = plan;
    const outcome: SectionOutcome = {
      date: section.date,
      source: section.source,
      papers: section.papers.length,
      before: plan.state,
      action: plan.action,
      after: plan.state,
      counts: null,
      variants: 0,
      renders: 0,
      largestHtmlBytes: 0,
      changedAfterSend: plan.changedAfterSend,
    };
    outcomes.push(outcome);
    if (plan.action === 'mark-before-start' || plan.action === 'mark-empty') {
      const status = plan.action === 'mark-empty' ? 'empty' : 'before-start';
      if (!dryRun) await store.putSection(section.date, { status, hash: section.hash, at });
      outcome.after = status;
      continue;
    }
    // After a stop (daily quota, SIGTERM) later sections wait for the next run untouched.
    if (plan.action !== 'send' || deps.dispatcher?.stopReason) continue;
    try {
      const result = await deliverSection(section, { ...context, reopenSent: plan.state === 'sent' });
      outcome.counts = result.counts;
      outcome.variants = result.variants;
      outcome.renders = result.renders;
      outcome.largestHtmlBytes = result.largestHtmlBytes;
      if (!dryRun) outcome.role = result.role;
      outcome.after = dryRun ? plan.state : result.complete ? 'sent' : 'sending';
    } catch (err) {
      if (!(err instanceof TemplateRenderError)) throw err;
      outcome.error = err.message;
      if (err.hint) outcome.errorHint = err.hint;
      outcome.after = 'failed';
      if (!dryRun) {
        const openedAt = (await store.section(section.date))?.openedAt;
        await store.putSection(section.date, { status: 'failed', hash: section.hash, at, openedAt, reason: err.message });
      }
    }
  }
  // Roll-ups after the sections, so a section of today is deferred for weekly readers first.
  if (options.only === undefined && !deps.dispatcher?.stopReason) {
    const rollups = await deliverRollups(inputs.sections, context);
    for (const r of rollups) {
      outcomes.push({
        date: r.issue,
        source: 'roll-up',
        papers: 0,
        before: 'pending',
        action: 'send',
        after: dryRun ? 'pending' : r.complete ? 'sent' : 'sending',
        counts: r.counts,
        variants: r.variants,
        renders: r.renders,
        largestHtmlBytes: 0,
        changedAfterSend: false,
        rollUp: true,
      });
    }
  }
  if (runId !== null) await store.finishRun(runId, new Date().toISOString());
  return { dryRun, today, sections: outcomes, problems, stoppedEarly: deps.dispatcher?.stopReason ?? null, sessionFailure: deps.dispatcher?.sessionFailure ?? null };
}
