import { SESClient, SendRawEmailCommand } from '@aws-sdk/client-ses';
import type { Config } from '../../config/load.js';
import type { FailureKind, OutgoingMessage, SendResult, Transport } from '../transport.js';

const PERMANENT = new Set([
  'MessageRejected', 'MailFromDomainNotVerifiedException', 'MailFromDomainNotVerified',
  'ConfigurationSetDoesNotExistException', 'ConfigurationSetDoesNotExist', 'AccountSendingPausedException',
  'AccountSendingPaused', 'ConfigurationSetSendingPausedException', 'InvalidParameterValue', 'ValidationError',
  'AccessDenied', 'AccessDeniedException', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException',
]);

/** SES errors: throttling and 5xx are retried; a daily quota stops the run; rejections are final. */
export function classifySesError(err: { name?: string; message?: string; $metadata?: { httpStatusCode?: number } }): FailureKind {
  const name = err.name ?? '';
  const message = err.message ?? '';
  if (/daily message quota exceeded/i.test(message)) return 'quota';
  if (name === 'Throttling' || name === 'ThrottlingException' || /maximum sending rate exceeded/i.test(message)) return 'transient';
  if (name === 'ServiceUnavailable' || name === 'InternalFailure') return 'transient';
  if (PERMANENT.has(name)) return 'permanent';
  const status = err.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return 'transient';
  if (status !== undefined && status >= 400) return 'permanent';
  // No HTTP answer at all: refused connection, timeout, DNS. Worth retrying.
  return 'transient';
}

/**
 * Amazon SES `SendRawEmail` with the composed MIME bytes. Credentials come from the SDK's
 * default provider chain (environment, shared config, instance role), never from our config.
 * The SDK's own retries are off: the run's retry policy (backoff with jitter) decides.
 */
export class SesTransport implements Transport {
  readonly name = 'ses';
  private readonly client: SESClient;

  constructor(private readonly config: Config) {
    if (config.transport.type !== 'ses') throw new Error('not an ses config');
    this.client = new SESClient({
      region: config.transport.region,
      ...(config.transport.endpoint ? { endpoint: config.transport.endpoint } : {}),
      maxAttempts: 1,
    });
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    const transport = this.config.transport;
    if (transport.type !== 'ses') throw new Error('not an ses config');
    try {
      const out = await this.client.send(
        new SendRawEmailCommand({
          RawMessage: { Data: message.raw },
          Source: message.envelope.from,
          Destinations: [message.envelope.to],
          ...(transport.configurationSet ? { ConfigurationSetName: transport.configurationSet } : {}),
        }),
      );
      return { ok: true, providerId: out.MessageId };
    } catch (err) {
      const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      return { ok: false, kind: classifySesError(e), reason: `${e.name ?? 'Error'}: ${e.message ?? ''}`.slice(0, 500) };
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
