import { UsageError } from '../../errors.js';
import { openStore } from '../../store/open.js';
import { formatStats, statsReport, type GrowthBy } from '../../stats/report.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { loadConfigFrom } from '../shared.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export interface StatsFlags {
  by: string;
  since?: string;
  section?: string;
  json: boolean;
}

/** `stats`: per section sends, bounces and complaints, and subscriber growth; reads the store only. */
export async function statsCommand(globals: GlobalOptions, flags: StatsFlags): Promise<number> {
  if (flags.by !== 'day' && flags.by !== 'week') throw new UsageError(`--by: "${flags.by}" is not day or week`);
  for (const [name, value] of [['--since', flags.since], ['--section', flags.section]] as const) {
    if (value !== undefined && !DATE.test(value)) throw new UsageError(`${name}: "${value}" is not a date (YYYY-MM-DD)`);
  }
  const config = await loadConfigFrom(globals);
  const store = await openStore(config);
  try {
    const report = await statsReport(store, { by: flags.by as GrowthBy, since: flags.since, sections: flags.section ? [flags.section] : undefined });
    console.log(flags.json ? JSON.stringify(report, null, 2) : formatStats(report));
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
