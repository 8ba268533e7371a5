/**
 * What a year of digest history costs a run with nothing to send (issue 10: under 10%). Two
 * projects with the same subscribers and the same newest section: one holds only the current
 * month's file, the other eleven more months of history (about 230 sections, cloned from the
 * seed with their own dates). Each is run once (the newest section goes out, the history is
 * recorded as before the start), then `digest-mailer run` is timed BENCH_ARCHIVE_RUNS times
 * (default 3) with nothing left to send, as whole processes (/usr/bin/time: CPU and peak RSS),
 * with the parse cache warm; one run with the cache emptied shows what it saves.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSubscribers } from './population.js';
import { parseDigest } from '../src/digest/parse.js';
import { loadTaxonomy } from '../src/topics/load.js';

const root = process.cwd();
const RUNS = Number(process.env.BENCH_ARCHIVE_RUNS ?? 3);
const seed = await readFile(join(root, 'digests/2025-11.md'), 'utf8');
const bodies = seed.split(/^## \d{4}-\d{2}-\d{2}\n/m).slice(1);
const taxonomy = await loadTaxonomy(join(root, 'topics.json'));
const subscribers = generateSubscribers(200, { topicIds: taxonomy.topics.map((t) => t.id), sections: parseDigest(seed, 'seed').sections }, 7);

/** Weekday sections of one month, bodies taken from the seed in turn. */
function month(year: number, monthIndex: number): string {
  const out: string[] = [];
  for (let day = 1; day <= 31; day++) {
    const date = new Date(Date.UTC(year, monthIndex, day));
    if (date.getUTCMonth() !== monthIndex || date.getUTCDay() === 0 || date.getUTCDay() === 6) continue;
    out.push(`## ${date.toISOString().slice(0, 10)}\n${bodies[(day + monthIndex) % bodies.length]!.replace(/\n+$/, '')}\n`);
  }
  return out.join('\n');
}

async function project(history: boolean): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dm-archive-'));
  await mkdir(join(dir, 'digests'));
  await writeFile(join(dir, 'digests/2025-11.md'), seed);
  if (history) {
    for (let m = 0; m < 11; m++) {
      const date = new Date(Date.UTC(2024, 11 + m, 1));
      await writeFile(join(dir, `digests/${date.toISOString().slice(0, 7)}.md`), month(date.getUTCFullYear(), date.getUTCMonth()));
    }
  }
  await writeFile(join(dir, 'subscribers.json'), JSON.stringify({ subscribers }));
  const config = JSON.parse(await readFile(join(root, 'digest-mailer.config.json'), 'utf8'));
  config.paths = { digests: 'digests', subscribers: 'subscribers.json', topics: join(root, 'topics.json'), templates: join(root, 'templates'), state: 'state', outbox: 'outbox' };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

/** One `digest-mailer run` as a whole process: CPU seconds and peak RSS. */
async function timed(dir: string): Promise<{ cpu: number; rssMb: number }> {
  try {
    execFileSync('/usr/bin/time', ['-f', 'TIME %U %S %M', '-o', join(dir, 'time.txt'), process.execPath, join(root, 'bin/digest-mailer.js'), '--config', join(dir, 'config.json'), 'run'], { cwd: dir, stdio: 'ignore' });
  } catch {
    // "nothing to send" may still exit non-zero for a reported problem; the time is written anyway
  }
  const [, user, sys, rss] = (await readFile(join(dir, 'time.txt'), 'utf8')).trim().split('\n').pop()!.split(' ');
  return { cpu: Number(user) + Number(sys), rssMb: Number(rss) / 1024 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Record<string, { cpu: number[]; rss: number[]; cold: number }> = {};
const load0 = loadavg()[0]!;
for (const history of [false, true]) {
  const dir = await project(history);
  await timed(dir); // the first run sends the newest section and records the rest
  const cpu: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = await timed(dir);
    cpu.push(t.cpu);
    rss.push(t.rssMb);
  }
  await rm(join(dir, 'state/cache'), { recursive: true, force: true });
  const cold = (await timed(dir)).cpu;
  results[history ? 'year' : 'month'] = { cpu, rss, cold };
  await rm(dir, { recursive: true, force: true });
}
const month1 = results.month!;
const year = results.year!;
const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
console.log(`archive parsing, a run with nothing to send (load average ${load0.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after):`);
console.log(`  current month only (8 sections): CPU ${fmt(month1.cpu)} s, median ${median(month1.cpu).toFixed(2)} s, peak RSS ${median(month1.rss).toFixed(0)} MB; parse cache emptied: ${month1.cold.toFixed(2)} s`);
console.log(`  with a year of history (+11 files): CPU ${fmt(year.cpu)} s, median ${median(year.cpu).toFixed(2)} s, peak RSS ${median(year.rss).toFixed(0)} MB; parse cache emptied: ${year.cold.toFixed(2)} s`);
console.log(`  a year of history adds ${((median(year.cpu) / median(month1.cpu) - 1) * 100).toFixed(1)}% CPU with the cache (without it: ${((year.cold / month1.cold - 1) * 100).toFixed(0)}%)`);
