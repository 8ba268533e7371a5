import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { addressKey, type Subscriber } from '../../audience/schema.js';
import { selectPapers } from '../../audience/select.js';
import { UserError } from '../../errors.js';
import { outboxFileStem } from '../../mail/transports/outbox.js';
import { renderEmail, type RenderedEmail } from '../../render/render.js';
import type { Config } from '../../config/load.js';
import type { Section } from '../../digest/types.js';
import { loadInputs, renderSettings } from '../../run/context.js';
import { composeFor } from '../../run/deliver.js';
import { classifyPaper } from '../../topics/classify.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { linkSettings, loadConfigFrom } from '../shared.js';

export interface RenderFlags {
  section: string;
  subscriber?: string;
  topics?: string;
  out: string;
}

/**
 * The one email of a section for a subscriber from the list or an ad-hoc topic set, rendered
 * by the same code as a run. Null (after saying so) when nothing matches.
 */
export async function prepareEmail(
  config: Config,
  flags: { section?: string | undefined; subscriber?: string | undefined; topics?: string | undefined },
): Promise<{ section: Section; subscriber: Subscriber; rendered: RenderedEmail } | null> {
  if (flags.subscriber !== undefined && flags.topics !== undefined) {
    throw new UserError('give only one of --subscriber EMAIL or --topics a,b');
  }
  const inputs = await loadInputs(config);
  const section = flags.section
    ? inputs.sections.find((s) => s.date === flags.section)
    : inputs.sections.filter((s) => s.papers.length > 0).at(-1);
  if (!section) throw new UserError(`no section dated ${flags.section ?? '(any)'}`, 'Run "digest-mailer sections" to list the dates.');

  let subscriber: Subscriber;
  if (flags.subscriber !== undefined) {
    const found = inputs.subscribers.find((s) => addressKey(s.email) === addressKey(flags.subscriber!));
    if (!found) throw new UserError(`no subscriber ${flags.subscriber} in ${config.paths.subscribers}`);
    subscriber = found;
  } else {
    const topics = (flags.topics ?? '').split(',').map((t) => t.trim()).filter(Boolean);
    const known = new Set(inputs.taxonomy.topics.map((t) => t.id));
    const unknown = topics.filter((t) => !known.has(t));
    if (unknown.length) throw new UserError(`unknown topic ${unknown.join(', ')}`, `Known topics: ${[...known].join(', ')}.`);
    subscriber = { email: 'preview@example.org', name: 'Preview', status: 'active', topics, excludeTopics: [], authors: [], keywords: [] };
  }

  const papers = section.papers.map((p) => classifyPaper(p, inputs.compiledTaxonomy));
  const selected = selectPapers(papers, subscriber);
  if (selected.length === 0) {
    console.log(`No paper of ${section.date} matches ${subscriber.email}'s preferences: they get no email that day.`);
    return null;
  }
  const rendered = await renderEmail(inputs.templates, config.paths.templates, section, selected, renderSettings(config, inputs.taxonomy));
  return { section, subscriber, rendered };
}

export async function renderCommand(globals: GlobalOptions, flags: RenderFlags): Promise<number> {
  if ((flags.subscriber === undefined) === (flags.topics === undefined)) {
    throw new UserError('render needs exactly one of --subscriber EMAIL or --topics a,b');
  }
  const config = await loadConfigFrom(globals);
  const prepared = await prepareEmail(config, flags);
  if (!prepared) return EXIT.ok;
  const { section, subscriber, rendered } = prepared;
  const message = await composeFor(config, rendered, section, subscriber, linkSettings(config, false), new Date());
  await mkdir(flags.out, { recursive: true });
  const stem = join(flags.out, `${section.date}-${outboxFileStem(subscriber.email)}`);
  await writeFile(`${stem}.html`, message.html);
  await writeFile(`${stem}.txt`, message.text);
  await writeFile(`${stem}.eml`, message.raw);
  const shown = relative(process.cwd(), stem);
  console.log(`Subject: ${rendered.subject}`);
  console.log(`Papers: ${rendered.paperIds.length} (${rendered.trim.fullPapers} in full), HTML ${Buffer.byteLength(message.html)} bytes`);
  console.log(`Wrote ${shown}.html, ${shown}.txt, ${shown}.eml`);
  return EXIT.ok;
}
