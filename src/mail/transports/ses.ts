import { needsSmtpUtf8, withAsciiDomain } from '../../audience/address.js';
import type { SESClient } from '@aws-sdk/client-ses';
import type { Config } from '../../config/load.js';
import { noteUnmaintainedNode } from '../../node-support.js';
import type { FailureKind, FailureStage, OutgoingMessage, SendResult, Transport } from '../transport.js';

const CREDENTIALS = new Set([
  'InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException', 'AccessDenied',
  'AccessDeniedException', 'ExpiredToken', 'ExpiredTokenException', 'MissingAuthenticationToken',
  'IncompleteSignature', 'InvalidAccessKeyId', 'CredentialsProviderError', 'OptInRequired',
]);
const ACCOUNT = new Set([
  'AccountSendingPausedException', 'AccountSendingPaused', 'ConfigurationSetSendingPausedException',
  'ConfigurationSetDoesNotExistException', 'ConfigurationSetDoesNotExist',
  'MailFromDomainNotVerifiedException', 'MailFromDomainNotVerified',
]);

export interface SesErrorLike {
  name?: string | undefined;
  message?: string | undefined;
  $metadata?: { httpStatusCode?: number | undefined } | undefined;
}

export interface SesClassification {
  kind: FailureKind;
  stage: FailureStage;
  hint?: string | undefined;
}

/**
 * SES errors by scope. Credentials, an unverified sender, a paused account or configuration set
 * are the session (every recipient would fail alike); throttling and 5xx are retried; a daily
 * quota stops the run; a rejected destination is about that recipient only.
 */
export function classifySesError(err: SesErrorLike, source = ''): SesClassification {
  const name = err.name ?? '';
  const message = err.message ?? '';
  if (/daily message quota exceeded/i.test(message)) return { kind: 'quota', stage: 'sender' };
  if (name === 'Throttling' || name === 'ThrottlingException' || /maximum sending rate exceeded/i.test(message)) {
    return { kind: 'transient', stage: 'connection' };
  }
  if (name === 'ServiceUnavailable' || name === 'InternalFailure') return { kind: 'transient', stage: 'connection' };
  if (CREDENTIALS.has(name)) {
    return { kind: 'permanent', stage: 'login', hint: 'Check the AWS credentials (environment, shared config or instance role) and their ses:SendRawEmail permission.' };
  }
  if (ACCOUNT.has(name)) {
    return { kind: 'permanent', stage: 'sender', hint: 'Sending is paused or not set up for this account, configuration set or MAIL FROM domain: see the SES console (transport.configurationSet, transport.region).' };
  }
  if (name === 'MessageRejected') {
    // "Email address is not verified. The following identities failed the check ...: a@b, c@d"
    const identities = (message.split(/failed the check[^:]*:/i)[1] ?? '').toLowerCase();
    const from = source.toLowerCase();
    const fromDomain = from.slice(from.lastIndexOf('@') + 1);
    const names = identities.split(/[\s,]+/).filter(Boolean);
    if (from && names.some((id) => id === from || id === fromDomain || id.endsWith(`<${from}>`))) {
      return { kind: 'permanent', stage: 'sender', hint: `Verify list.from.address (${source}) or its domain in SES, in region transport.region.` };
    }
    return { kind: 'permanent', stage: 'recipient' };
  }
  const status = err.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return { kind: 'transient', stage: 'connection' };
  if (status === 401 || status === 403) return { kind: 'permanent', stage: 'login', hint: 'Check the AWS credentials and their SES permissions.' };
  if (status !== undefined && status >= 400) return { kind: 'permanent', stage: 'recipient' };
  // No HTTP answer at all: refused connection, timeout, DNS. Worth retrying.
  return { kind: 'transient', stage: 'connection', hint: 'Check transport.region (and transport.endpoint) and the network path to SES.' };
}

/**
 * Amazon SES `SendRawEmail` with the composed MIME bytes. Credentials come from the SDK's
 * default provider chain (environment, shared config, instance role), never from our config.
 * The SDK's own retries are off: the run's retry policy (backoff with jitter) decides.
 */
export class SesTransport implements Transport {
  readonly name = 'ses';
  /** The AWS SDK is loaded on first use: it is large, and a run over SMTP or to the outbox never needs it. */
  private readonly sdk: Promise<{ client: SESClient; SendRawEmailCommand: typeof import('@aws-sdk/client-ses').SendRawEmailCommand }>;

  constructor(private readonly config: Config) {
    const transport = config.transport;
    if (transport.type !== 'ses') throw new Error('not an ses config');
    noteUnmaintainedNode();
    this.sdk = import('@aws-sdk/client-ses').then(({ SESClient, SendRawEmailCommand }) => ({
      client: new SESClient({ region: transport.region, ...(transport.endpoint ? { endpoint: transport.endpoint } : {}), maxAttempts: 1 }),
      SendRawEmailCommand,
    }));
    // Awaited by the first send, which reports a failure to load; not an unhandled rejection before that.
    this.sdk.catch(() => undefined);
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    const transport = this.config.transport;
    if (transport.type !== 'ses') throw new Error('not an ses config');
    const { from, to } = message.envelope;
    // SES takes 7-bit local parts only (no SMTPUTF8); domains go as punycode.
    if (needsSmtpUtf8(to)) {
      return { ok: false, kind: 'permanent', stage: 'recipient', reason: `${to} has non-ASCII characters before the @, which needs SMTPUTF8 (RFC 6531), and Amazon SES does not support it` };
    }
    try {
      const { client, SendRawEmailCommand } = await this.sdk;
      const out = await client.send(
        new SendRawEmailCommand({
          RawMessage: { Data: message.raw },
          Source: withAsciiDomain(from),
          Destinations: [withAsciiDomain(to)],
          ...(transport.configurationSet ? { ConfigurationSetName: transport.configurationSet } : {}),
        }),
      );
      return { ok: true, providerId: out.MessageId };
    } catch (err) {
      const e = err as SesErrorLike;
      return { ok: false, ...classifySesError(e, message.envelope.from), reason: `${e.name ?? 'Error'}: ${e.message ?? ''}`.replace(/\s+/g, ' ').slice(0, 500) };
    }
  }

  async close(): Promise<void> {
    (await this.sdk).client.destroy();
  }
}
