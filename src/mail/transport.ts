/** One finished message, the same bytes whatever carries it. */
export interface OutgoingMessage {
  sectionDate: string;
  recipient: string;
  messageId: string;
  raw: Buffer;
  /** The personalised HTML body, for transports that keep a copy (the outbox). */
  html: string;
  envelope: { from: string; to: string };
}

/**
 * - transient: worth retrying (SMTP 4xx, dropped connection, timeout, SES throttling, 5xx)
 * - permanent: retrying cannot help (SMTP 5xx, SES MessageRejected, a malformed address)
 * - quota: the account may send no more today; stop the run, keep the rest pending
 */
export type FailureKind = 'transient' | 'permanent' | 'quota';

export type SendResult = { ok: true; providerId?: string | undefined } | { ok: false; kind: FailureKind; reason: string };

/** Carries composed messages; knows nothing of digests or subscribers. */
export interface Transport {
  readonly name: string;
  send(message: OutgoingMessage): Promise<SendResult>;
  close(): Promise<void>;
}
