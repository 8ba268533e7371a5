import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { UsageError, UserError } from '../errors.js';
import { EXIT, type GlobalOptions } from './exit.js';
import { LockBusyError } from '../run/lock.js';
import { renderCommand } from './commands/render.js';
import { runCommand } from './commands/run.js';
import { previewCommand } from './commands/preview.js';
import { serveCommand } from './commands/serve.js';
import { subscribersAdd, subscribersExport, subscribersImport, subscribersList, subscribersRemove, subscribersRevokeLinks } from './commands/subscribers.js';
import { scheduleCommand } from './commands/schedule.js';
import { sendTestCommand } from './commands/send-test.js';
import { sectionsCommand } from './commands/sections.js';
import { validateCommand } from './commands/validate.js';
import { dkimKeygenCommand } from './commands/dkim.js';
import { registerTopicsCommands } from './commands/topics.js';
import { DEFAULT_CONFIG_FILE } from '../config/load.js';


const program = new Command('digest-mailer')
  .description('Turns dated sections of a Markdown research digest into topic-filtered newsletters.')
  .addOption(
    new Option('-c, --config <file>', 'config file').env('DIGEST_MAILER_CONFIG').default(DEFAULT_CONFIG_FILE),
  )
  .option('-v, --verbose', 'print stack traces of errors', false)
  .showHelpAfterError()
  .exitOverride();

/** A TCP port for --port: a bad value is a usage error (exit 2), not a listen failure later. */
function portNumber(value: string): string {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('expected a port number, 0 to 65535.');
  return value;
}

const globals = () => program.opts<GlobalOptions>();

program
  .command('run')
  .description('one pass: send every due section to its subscribers, then print a summary')
  .option('--dry-run', 'plan, select and render, but send and record nothing', false)
  .option('--backfill', 'also send sections older than the first run', false)
  .option('--section <date>', 'only this section (YYYY-MM-DD); sends it even if it was before-start')
  .addOption(
    new Option('--workers <n>', 'start N local worker processes that send together (PostgreSQL only)').argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('give a whole number from 1 to 64');
      return n;
    }),
  )
  // What each worker of `run --workers N` is started with: its summary as JSON on stdout.
  .addOption(new Option('--summary-json').hideHelp().default(false))
  .action(async (opts) => {
    process.exitCode = await runCommand(globals(), opts);
  });

program
  .command('sections')
  .description('list the digest sections and their status')
  .option('--json', 'machine-readable, with papers, topics and matched terms', false)
  .action(async (opts) => {
    process.exitCode = await sectionsCommand(globals(), opts);
  });

program
  .command('render')
  .description('render one email to files (.html, .txt, .eml) without sending')
  .requiredOption('--section <date>', 'section date (YYYY-MM-DD)')
  .option('--subscriber <email>', 'render as this subscriber would get it')
  .option('--topics <ids>', 'or for an ad-hoc topic set, comma-separated (e.g. video,rl)')
  .requiredOption('--out <dir>', 'folder to write the files to')
  .action(async (opts) => {
    process.exitCode = await renderCommand(globals(), opts);
  });

program
  .command('send-test')
  .description('send one real message through the configured transport, marked [TEST]; the ledger is not touched')
  .requiredOption('--to <address>', 'where to send it')
  .option('--section <date>', 'section date (default: the newest with papers)')
  .option('--subscriber <email>', 'render as this subscriber would get it')
  .option('--topics <ids>', 'or for an ad-hoc topic set, comma-separated (default: everything)')
  .action(async (opts) => {
    process.exitCode = await sendTestCommand(globals(), opts);
  });

program
  .command('schedule')
  .description('run a pass on the configured cron schedule until SIGTERM; catches up a missed tick on start')
  .action(async () => {
    process.exitCode = await scheduleCommand(globals());
  });

program
  .command('serve')
  .description('the subscription web app (subscribe, confirm, preferences, unsubscribe, SES feedback)')
  .option('--schedule', 'also run the daily schedule in this process', false)
  .option('--host <host>', 'address to listen on (default: web.host)')
  .option('--port <port>', 'port to listen on (default: web.port)', portNumber)
  .action(async (opts) => {
    process.exitCode = await serveCommand(globals(), opts);
  });

const subscribers = program.command('subscribers').description('manage the subscriber list');
subscribers
  .command('list')
  .option('--json', 'machine-readable', false)
  .action(async (opts) => {
    process.exitCode = await subscribersList(globals(), opts);
  });
subscribers
  .command('add <email>')
  .description('add an active subscriber (the operator vouches for consent)')
  .option('--name <name>')
  .option('--topics <ids>', 'comma-separated topic ids (default: all)')
  .action(async (email, opts) => {
    process.exitCode = await subscribersAdd(globals(), email, opts);
  });
subscribers
  .command('remove <email>')
  .description('delete a subscriber and their history')
  .action(async (email) => {
    process.exitCode = await subscribersRemove(globals(), email);
  });
subscribers
  .command('revoke-links <email>')
  .description('make every manage and unsubscribe link sent to this address so far stop working')
  .action(async (email) => {
    process.exitCode = await subscribersRevokeLinks(globals(), email);
  });
subscribers
  .command('import <file>')
  .description('add subscribers from CSV or JSON; every rejected row is reported')
  .action(async (file) => {
    process.exitCode = await subscribersImport(globals(), file);
  });
subscribers
  .command('export')
  .addOption(new Option('--format <format>', 'csv or json').choices(['csv', 'json']).default('csv'))
  .option('--out <file>', 'write to this file, created 0600 (default: standard output)')
  .action(async (opts) => {
    process.exitCode = await subscribersExport(globals(), opts);
  });

program
  .command('preview')
  .description('local preview of every email, live-reloading on template, digest, topic and subscriber edits')
  .option('--host <host>', 'address to listen on (default: preview.host, 127.0.0.1)')
  .option('--port <port>', 'port to listen on (default: preview.port, 8081)', portNumber)
  .action(async (opts) => {
    process.exitCode = await previewCommand(globals(), opts);
  });

program
  .command('deliveries')
  .description('list delivery outcomes with the reasons for failures')
  .option('--section <date>', 'only this section (YYYY-MM-DD), a roll-up covering it included')
  .option('--issue <key>', 'only this issue: a section date, weekly:YYYY-MM-DD or catchup:YYYY-MM-DD')
  .option('--status <status>', 'queued, claimed, sent, skipped-no-match, cancelled, failed or deferred')
  .option('--reason <text>', 'only failures whose reason contains this text (e.g. 550)')
  .option('--json', 'one JSON object per line', false)
  .action(async (opts) => {
    const { deliveriesCommand } = await import('./commands/deliveries.js');
    process.exitCode = await deliveriesCommand(globals(), opts);
  });

program
  .command('stats')
  .description('per section: sent, failed, bounces and complaints, "more / less like this" per paper and topic; subscriber growth per day or week')
  .option('--by <period>', 'growth per day or week', 'day')
  .option('--since <date>', 'growth from this UTC day (YYYY-MM-DD)')
  .option('--section <date>', 'only this section (YYYY-MM-DD)')
  .option('--json', 'the report as JSON', false)
  .action(async (opts) => {
    const { statsCommand } = await import('./commands/stats.js');
    process.exitCode = await statsCommand(globals(), opts);
  });

program
  .command('retry')
  .description('re-queue chosen failures of a section (same Message-ID); the next run sends them')
  .requiredOption('--section <date>', 'the section (YYYY-MM-DD)')
  .option('--failed', 'every failure of the section, permanent ones included', false)
  .option('--reason <text>', 'only failures whose reason contains this text')
  .action(async (opts) => {
    const { retryCommand } = await import('./commands/deliveries.js');
    process.exitCode = await retryCommand(globals(), opts);
  });

const dkim = program.command('dkim').description('DKIM signing keys for the SMTP transport');
dkim
  .command('keygen')
  .description('write a new private key (0600) and print the DNS TXT record to publish')
  .option('--selector <name>', 'DKIM selector (default: transport.dkim.keySelector, else "digest")')
  .option('--domain <domain>', 'signing domain (default: transport.dkim.domainName, else the From domain)')
  .option('--out <file>', 'private key file (default: transport.dkim.privateKeyFile, else dkim-<selector>.pem)')
  .option('--bits <n>', 'RSA key size', '2048')
  .option('--force', 'overwrite an existing key file', false)
  .action(async (opts) => {
    process.exitCode = await dkimKeygenCommand(globals(), opts);
  });

const db = program.command('db').description('the state database (SQLite file or PostgreSQL)');
db.command('migrate')
  .description('apply pending schema migrations (SQLite also does this on every start)')
  .action(async () => {
    // Loaded on use: the database drivers cost start-up time every other command need not pay.
    const { dbMigrate } = await import('./commands/db.js');
    process.exitCode = await dbMigrate(globals());
  });
db.command('import')
  .description('bring an earlier version\'s subscribers file and state/ journals into the database (nothing is resent)')
  .option('--subscribers <file>', 'subscribers JSON file (default: paths.subscribers)')
  .option('--state <dir>', 'state folder with ledger.jsonl and deliveries/ (default: paths.state)')
  .action(async (opts) => {
    const { dbImport } = await import('./commands/db.js');
    process.exitCode = await dbImport(globals(), opts);
  });
db.command('status')
  .description('show the engine, where the data lives, the schema version and the subscribe intake (waiting, given up)')
  .action(async () => {
    const { dbStatus } = await import('./commands/db.js');
    process.exitCode = await dbStatus(globals());
  });
const intake = db.command('intake').description('subscribe requests the server gave up on (db status lists them)');
for (const [action, description] of [
  ['retry', 'queue given-up subscribe requests again (the running server, or its next start, handles them)'],
  ['discard', 'delete given-up subscribe requests, with their address and name'],
] as const) {
  intake
    .command(`${action} [ids...]`)
    .description(description)
    .option('--all', 'every given-up request', false)
    .action(async (ids: string[], opts: { all: boolean }) => {
      const { dbIntake } = await import('./commands/db.js');
      process.exitCode = await dbIntake(globals(), action, ids, opts);
    });
}

program
  .command('validate')
  .description('check config, topics, subscribers, digests and templates; list every problem')
  .action(async () => {
    process.exitCode = await validateCommand(globals());
  });

registerTopicsCommands(program, globals);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has printed its message (or the help) already.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (err instanceof UserError) {
    console.error(`digest-mailer: ${err.message}${err.hint ? `\n  -> ${err.hint}` : ''}`);
    if (globals().verbose) console.error(err.stack);
    process.exitCode = err instanceof LockBusyError ? EXIT.busy : err instanceof UsageError ? EXIT.usage : EXIT.error;
  } else {
    const error = err as Error;
    console.error(`digest-mailer: unexpected error: ${error?.message ?? String(err)}`);
    if (globals().verbose) console.error(error?.stack);
    else console.error('  (run again with --verbose for the stack trace, and please report it)');
    process.exitCode = EXIT.error;
  }
}
