import { writeFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { UsageError, UserError } from '../../errors.js';
import { dkimRecordName, dkimTxtValue, dkimZoneLine, generateDkimKeyPair } from '../../mail/dkim.js';
import { EXIT, type GlobalOptions } from '../exit.js';
import { loadConfigFrom } from '../shared.js';

export interface DkimKeygenFlags {
  selector?: string;
  domain?: string;
  out?: string;
  bits: string;
  force: boolean;
}

/**
 * Writes a new DKIM private key (mode 0600, never over an existing file unless --force) and
 * prints the DNS TXT record to publish. Defaults come from transport.dkim, else the From domain.
 */
export async function dkimKeygenCommand(globals: GlobalOptions, flags: DkimKeygenFlags): Promise<number> {
  const config = await loadConfigFrom(globals);
  const dkim = config.transport.type === 'smtp' ? config.transport.dkim : undefined;
  const fromDomain = config.list.from.address.slice(config.list.from.address.lastIndexOf('@') + 1);
  const domain = flags.domain ?? dkim?.domainName ?? fromDomain;
  const selector = flags.selector ?? dkim?.keySelector ?? 'digest';
  if (!/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(selector)) throw new UsageError(`--selector: "${selector}" is not a DNS label`, 'Use letters, digits and dashes, e.g. digest2026.');
  const bits = Number(flags.bits);
  if (![1024, 2048, 3072, 4096].includes(bits)) throw new UsageError(`--bits: ${flags.bits} is not one of 1024, 2048, 3072, 4096`);
  const base = dirname(config.file);
  const out = resolve(base, flags.out ?? dkim?.privateKeyFile ?? `dkim-${selector}.pem`);

  const keys = generateDkimKeyPair(bits);
  try {
    await writeFile(out, keys.privateKeyPem, { mode: 0o600, flag: flags.force ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UserError(`${out} exists; not overwriting a key that may be in use`, 'Choose another --out or --selector (rotate by publishing a new selector), or pass --force.');
    }
    throw new UserError(`cannot write ${out}: ${(err as Error).message}`);
  }
  const value = dkimTxtValue(keys.publicKeyBase64);
  console.log(`Private key written to ${out} (mode 0600). Keep it secret; it never goes in the config file itself.`);
  console.log('');
  console.log(`Publish this DNS TXT record (name ${dkimRecordName(selector, domain)}):`);
  console.log('');
  console.log(dkimZoneLine(selector, domain, value));
  console.log('');
  console.log('Value, for DNS consoles that take one string:');
  console.log(value);
  console.log('');
  console.log('Then set in the config:');
  console.log(`  "dkim": { "domainName": "${domain}", "keySelector": "${selector}", "privateKeyFile": "${relative(base, out) || out}" }`);
  return EXIT.ok;
}
