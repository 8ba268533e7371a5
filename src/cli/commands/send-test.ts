import { sendTestEmail } from '../../run/send-test.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { loadConfigFrom } from '../shared.js';

export interface SendTestFlags {
  to: string;
  section?: string;
  subscriber?: string;
  topics?: string;
}

export async function sendTestCommand(globals: GlobalOptions, flags: SendTestFlags): Promise<number> {
  const config = await loadConfigFrom(globals);
  // Test mail carries inert links (see sendTestEmail): no secret needed.
  const result = await sendTestEmail(config, flags.to, flags, { baseUrl: config.baseUrl, ttlDays: config.tokens.linkTtlDays });
  if (!result.ok) {
    console.error(`send-test: ${result.message}`);
    return EXIT.error;
  }
  console.log(`send-test: ${result.message}`);
  return EXIT.ok;
}
