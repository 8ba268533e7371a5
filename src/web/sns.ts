import { createVerify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { z } from 'zod';

/** The SNS HTTP(S) message envelope (https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html). */
export const snsMessageSchema = z.object({
  Type: z.enum(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']),
  MessageId: z.string().min(1),
  TopicArn: z.string().min(1),
  Subject: z.string().optional(),
  Message: z.string(),
  Timestamp: z.string().min(1),
  SignatureVersion: z.enum(['1', '2']),
  Signature: z.string().min(1),
  SigningCertURL: z.string().min(1),
  SubscribeURL: z.string().optional(),
  Token: z.string().optional(),
  UnsubscribeURL: z.string().optional(),
});

export type SnsMessage = z.infer<typeof snsMessageSchema>;

/** The exact string SNS signs: selected keys in this order, each "Key\nValue\n". */
export function stringToSign(message: SnsMessage): string {
  const keys =
    message.Type === 'Notification'
      ? (['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] as const)
      : (['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'] as const);
  return keys
    .filter((k) => message[k] !== undefined)
    .map((k) => `${k}\n${message[k]}\n`)
    .join('');
}

export interface SnsTrust {
  trustedHosts: RegExp[];
  allowHttp: boolean;
  topicArns: string[];
}

/** An https URL (http only when allowed, for tests) on a trusted host. */
export function isTrustedUrl(url: string, trust: SnsTrust): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  const protocolOk = parsed.protocol === 'https:' || (trust.allowHttp && parsed.protocol === 'http:');
  return protocolOk && trust.trustedHosts.some((re) => re.test(parsed.hostname));
}

export type CertificateLoader = (url: string) => Promise<string>;

/**
 * Loads signing certificates: pinned PEM files first (offline deployments and tests), else a
 * download from the (already host-checked) URL, cached for the life of the process.
 */
export function certificateLoader(pinned: Record<string, string>, baseDir: string): CertificateLoader {
  const cache = new Map<string, Promise<string>>();
  return (url) => {
    let cert = cache.get(url);
    if (!cert) {
      const file = pinned[url];
      cert = file
        ? readFile(resolve(baseDir, file), 'utf8')
        : fetch(url, { signal: AbortSignal.timeout(5_000) }).then((res) => {
            if (!res.ok) throw new Error(`certificate download failed: HTTP ${res.status}`);
            return res.text();
          });
      cert.catch(() => cache.delete(url));
      cache.set(url, cert);
    }
    return cert;
  };
}

export type VerifyOutcome = { ok: true; message: SnsMessage } | { ok: false; reason: string };

/** Checks the envelope, the certificate URL's host, the topic, and the RSA signature. */
export async function verifySnsMessage(body: unknown, trust: SnsTrust, loadCertificate: CertificateLoader): Promise<VerifyOutcome> {
  const parsed = snsMessageSchema.safeParse(body);
  if (!parsed.success) return { ok: false, reason: 'not an SNS message' };
  const message = parsed.data;
  if (!isTrustedUrl(message.SigningCertURL, trust)) return { ok: false, reason: 'untrusted SigningCertURL' };
  if (trust.topicArns.length > 0 && !trust.topicArns.includes(message.TopicArn)) return { ok: false, reason: 'unexpected topic' };
  let certificate: string;
  try {
    certificate = await loadCertificate(message.SigningCertURL);
  } catch (err) {
    return { ok: false, reason: `certificate unavailable: ${(err as Error).message}` };
  }
  const verifier = createVerify(message.SignatureVersion === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
  verifier.update(stringToSign(message), 'utf8');
  let valid = false;
  try {
    valid = verifier.verify(certificate, message.Signature, 'base64');
  } catch {
    valid = false;
  }
  return valid ? { ok: true, message } : { ok: false, reason: 'bad signature' };
}

/** SNS messages older than this (by their signed Timestamp) change nothing: replays of old captures. */
export const SNS_MAX_AGE_MS = 3_600_000;
/** Clock difference tolerated for a Timestamp in the future. */
export const SNS_MAX_SKEW_MS = 300_000;

/** Why a verified message is too old (or from the future) to act on, or null when it is fresh. */
export function staleness(message: Pick<SnsMessage, 'Timestamp'>, now: Date): string | null {
  const at = Date.parse(message.Timestamp);
  if (!Number.isFinite(at) || !/^\d{4}-\d{2}-\d{2}T/.test(message.Timestamp)) return `unreadable Timestamp "${message.Timestamp.slice(0, 40)}"`;
  const age = now.getTime() - at;
  if (age > SNS_MAX_AGE_MS) return `sent ${Math.round(age / 60_000)} minutes ago (more than ${SNS_MAX_AGE_MS / 60_000})`;
  if (age < -SNS_MAX_SKEW_MS) return `Timestamp ${Math.round(-age / 60_000)} minutes in the future`;
  return null;
}

/** The SES event inside a Notification (notification or event-publishing format). */
export const sesEventSchema = z.looseObject({
  notificationType: z.string().optional(),
  eventType: z.string().optional(),
  bounce: z
    .looseObject({
      bounceType: z.string(),
      bounceSubType: z.string().optional(),
      bouncedRecipients: z.array(z.looseObject({ emailAddress: z.string(), diagnosticCode: z.string().optional() })),
    })
    .optional(),
  complaint: z
    .looseObject({
      complaintFeedbackType: z.string().optional(),
      complainedRecipients: z.array(z.looseObject({ emailAddress: z.string() })),
    })
    .optional(),
});

export type SesEvent = z.infer<typeof sesEventSchema>;

export interface FeedbackAction {
  email: string;
  action: 'suppress' | 'unsubscribe' | 'count-transient';
  detail: string;
}

/** What a bounce or complaint means for each address; pure. */
export function feedbackActions(event: SesEvent): FeedbackAction[] {
  const kind = event.notificationType ?? event.eventType;
  if (kind === 'Bounce' && event.bounce) {
    const permanent = event.bounce.bounceType === 'Permanent';
    return event.bounce.bouncedRecipients.map((r) => ({
      email: r.emailAddress,
      action: permanent ? 'suppress' : 'count-transient',
      detail: `SES ${event.bounce!.bounceType}${event.bounce!.bounceSubType ? `/${event.bounce!.bounceSubType}` : ''} bounce${r.diagnosticCode ? `: ${r.diagnosticCode}` : ''}`,
    }));
  }
  if (kind === 'Complaint' && event.complaint) {
    return event.complaint.complainedRecipients.map((r) => ({
      email: r.emailAddress,
      action: 'unsubscribe',
      detail: `SES complaint${event.complaint!.complaintFeedbackType ? ` (${event.complaint!.complaintFeedbackType})` : ''}`,
    }));
  }
  return [];
}
