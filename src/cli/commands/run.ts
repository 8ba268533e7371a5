import { relative } from 'node:path';
import { Ledger } from '../../ledger/ledger.js';
import { createTransport } from '../../mail/transports/index.js';
import { loadInputs } from '../../run/context.js';
import { runPass } from '../../run/run.js';
import { formatRunSummary } from '../format.js';
import { EXIT, type GlobalOptions } from '../main.js';
import { linkSettings, loadConfigFrom, printProblems } from '../shared.js';

export interface RunFlags {
  dryRun: boolean;
  backfill: boolean;
  section?: string;
}

export async function runCommand(globals: GlobalOptions, flags: RunFlags): Promise<number> {
  const config = await loadConfigFrom(globals);
  const inputs = await loadInputs(config);
  printProblems(inputs.problems);
  const realMail = !flags.dryRun && config.transport.type !== 'outbox';
  const links = linkSettings(config, realMail);
  const ledger = flags.dryRun ? await Ledger.read(config.paths.state) : await Ledger.openForWriting(config.paths.state);
  const transport = flags.dryRun ? null : createTransport(config);
  try {
    const summary = await runPass(
      { config, inputs, ledger, transport, links, now: () => new Date(), concurrency: 8 },
      { dryRun: flags.dryRun, backfill: flags.backfill, only: flags.section },
    );
    console.log(`digest-mailer run: today is ${summary.today} (${config.timezone}), transport ${config.transport.type}`);
    console.log(formatRunSummary(summary));
    const sentTo = summary.sections.filter((s) => (s.counts?.sent ?? 0) > 0).map((s) => s.date);
    if (config.transport.type === 'outbox' && sentTo.length > 0) {
      const dir = relative(process.cwd(), config.paths.outbox) || '.';
      console.log(`Outbox: ${sentTo.map((d) => `${dir}/${d}/`).join(', ')} (.eml files open in any mail client; .html in a browser)`);
    }
    const failed = summary.sections.some((s) => s.error || (s.counts?.failed ?? 0) > 0);
    return failed || inputs.problems.length > 0 ? EXIT.partial : EXIT.ok;
  } finally {
    await transport?.close();
    await ledger.close();
  }
}
