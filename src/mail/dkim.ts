import { generateKeyPairSync } from 'node:crypto';

export interface DkimKeyPair {
  /** PKCS#8 PEM: what transport.dkim.privateKeyFile (or privateKeyEnv) holds. */
  privateKeyPem: string;
  /** Base64 DER (SubjectPublicKeyInfo): the `p=` of the DNS record. */
  publicKeyBase64: string;
}

/** An RSA key pair for DKIM (2048 bits: what receivers expect; 1024 is considered weak). */
export function generateDkimKeyPair(bits = 2048): DkimKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyBase64: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

/** The TXT value to publish at `<selector>._domainkey.<domain>`. */
export function dkimTxtValue(publicKeyBase64: string): string {
  return `v=DKIM1; k=rsa; p=${publicKeyBase64}`;
}

export function dkimRecordName(selector: string, domain: string): string {
  return `${selector}._domainkey.${domain}`;
}

/**
 * A zone-file line. A TXT character-string holds at most 255 bytes, so a 2048-bit key is
 * split into quoted chunks that resolvers join back together.
 */
export function dkimZoneLine(selector: string, domain: string, value: string): string {
  const chunks = value.match(/.{1,255}/g) ?? [];
  return `${dkimRecordName(selector, domain)}. IN TXT ( ${chunks.map((c) => `"${c}"`).join(' ')} )`;
}
