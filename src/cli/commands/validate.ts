import { loadSubscribers } from '../../audience/load.js';
import { loadDigests } from '../../digest/load.js';
import { UserError, formatProblem, type Problem } from '../../errors.js';
import { compileTemplates, readTemplateSources } from '../../render/templates.js';
import { validateTemplates } from '../../render/validate.js';
import { renderSettings } from '../../run/context.js';
import { compileTaxonomy } from '../../topics/classify.js';
import { loadTaxonomy } from '../../topics/load.js';
import type { Taxonomy } from '../../topics/schema.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { loadPages } from '../../web/pages.js';
import { ConfirmationMailer } from '../../web/confirmation.js';
import { loadConfigFrom } from '../shared.js';
import { createTransport } from '../../mail/transports/index.js';
import { resolveSecret } from '../../tokens/secret.js';
import { requirePostalAddress } from '../../mail/compliance.js';

/** Runs every check it can and lists every problem, instead of stopping at the first. */
export async function validateCommand(globals: GlobalOptions): Promise<number> {
  const config = await loadConfigFrom(globals); // without a config there are no paths to check
  const problems: Problem[] = [];
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      problems.push({ where: what, message: err.message, ...(err.hint ? { hint: err.hint } : {}) });
      return null;
    }
  };

  const taxonomy: Taxonomy | null = await attempt('topics', () => loadTaxonomy(config.paths.topics));
  const compiled = taxonomy ? compileTaxonomy(taxonomy) : null;
  if (taxonomy) {
    const audience = await attempt('subscribers', () =>
      loadSubscribers(config.paths.subscribers, new Set(taxonomy.topics.map((t) => t.id))),
    );
    if (audience) problems.push(...audience.problems);
  }
  const digests = await attempt('digests', () => loadDigests(config.paths.digests, { maxFileBytes: config.limits.maxDigestFileBytes }));
  if (digests) problems.push(...digests.problems);
  const templates = await attempt('templates', async () => compileTemplates(await readTemplateSources(config.paths.templates)));
  if (templates && compiled && taxonomy) {
    problems.push(...(await validateTemplates(templates, config.paths.templates, compiled, renderSettings(config, taxonomy))));
  }

  // What `run` checks before its first message: the link secret for this transport (real mail
  // never falls back to the development one) and the transport's settings (DKIM key, password
  // and URL variables, TLS CA file). Nothing is sent and no connection is opened.
  const secret = await attempt('secret', async () => resolveSecret(process.env, config.tokens.secretEnv, config.transport.type === 'outbox' ? 'local' : 'real-mail'));
  await attempt(`transport (${config.transport.type})`, async () => createTransport(config).close());
  await attempt('list', async () => requirePostalAddress(config));
  if (config.store.engine === 'postgres') {
    const { openStore } = await import('../../store/open.js');
    await attempt('store', async () => (await openStore(config)).close());
  }

  await attempt('web page templates', () => loadPages(config.paths.templates, config.list));
  await attempt('confirmation email template', () => ConfirmationMailer.check(config));

  for (const name of digests?.ignored ?? []) console.log(`Note: ${name} is not a .md file: ignored.`);
  if (problems.length === 0) {
    console.log(
      `OK: ${config.file}, topics (${taxonomy?.topics.length}), subscribers, ${digests?.sections.length} digest sections, templates (MJML strict), ` +
        `the token secret and the ${config.transport.type} transport settings are valid.`,
    );
    if (secret?.development) console.log(`Note: ${config.tokens.secretEnv} is not set: fine for the outbox, but serve and real transports refuse to start without it.`);
    return EXIT.ok;
  }
  console.error(`${problems.length} problem${problems.length === 1 ? '' : 's'}:`);
  for (const p of problems) console.error(`  ${formatProblem(p).replace(/\n/g, '\n  ')}`);
  return EXIT.error;
}
