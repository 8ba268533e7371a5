import { join, relative } from 'node:path';
import { UsageError } from '../../errors.js';
import { privateDir, writePrivateFile } from '../../private-files.js';
import { outboxFileStem } from '../../mail/transports/outbox.js';
import { composeFor } from '../../run/deliver.js';
import { prepareEmail } from '../../run/prepare.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { linkSettings, loadConfigFrom } from '../shared.js';

export interface RenderFlags {
  section: string;
  subscriber?: string;
  topics?: string;
  out: string;
}

export async function renderCommand(globals: GlobalOptions, flags: RenderFlags): Promise<number> {
  if ((flags.subscriber === undefined) === (flags.topics === undefined)) {
    throw new UsageError('render needs exactly one of --subscriber EMAIL or --topics a,b');
  }
  const config = await loadConfigFrom(globals);
  const prepared = await prepareEmail(config, flags);
  if (!prepared) {
    console.log(`No paper of that section matches these preferences: no email that day.`);
    return EXIT.ok;
  }
  const { section, subscriber, rendered } = prepared;
  const message = await composeFor(config, rendered, section, subscriber, linkSettings(config, 'local'), new Date());
  // 0600: the files carry the subscriber's address and, with a real secret, working links.
  await privateDir(flags.out);
  const stem = join(flags.out, `${section.date}-${outboxFileStem(subscriber.email)}`);
  await writePrivateFile(`${stem}.html`, message.html);
  await writePrivateFile(`${stem}.txt`, message.text);
  await writePrivateFile(`${stem}.eml`, message.raw);
  const shown = relative(process.cwd(), stem);
  console.log(`Subject: ${rendered.subject}`);
  console.log(`Papers: ${rendered.paperIds.length} (${rendered.trim.fullPapers} in full), HTML ${Buffer.byteLength(message.html)} bytes`);
  console.log(`Wrote ${shown}.html, ${shown}.txt, ${shown}.eml`);
  return EXIT.ok;
}
