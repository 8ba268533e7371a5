import { sendTestEmail } from '../../run/send-test.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { linkSettings, loadConfigFrom } from '../shared.js';

export interface SendTestFlags {
  to: string;
  section?: string;
  subscriber?: string;
  topics?: string;
}

export async function sendTestCommand(globals: GlobalOptions, flags: SendTestFlags): Promise<number> {
  const config = await loadConfigFrom(globals);
  const links = linkSettings(config, config.transport.type !== 'outbox');
  const result = await sendTestEmail(config, flags.to, flags, links);
  if (!result.ok) {
    console.error(`send-test: ${result.message}`);
    return EXIT.error;
  }
  console.log(`send-test: ${result.message}`);
  return EXIT.ok;
}
