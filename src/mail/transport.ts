/** One finished message, the same bytes whatever carries it. */
export interface OutgoingMessage {
  sectionDate: string;
  recipient: string;
  messageId: string;
  raw: Buffer;
  /** The personalised HTML body (or a function that builds it), for an outbox that keeps a copy. */
  html?: string | (() => string) | undefined;
  envelope: { from: string; to: string };
}

/**
 * - transient: worth retrying (SMTP 4xx, dropped connection, timeout, SES throttling, 5xx)
 * - permanent: retrying cannot help (SMTP 5xx, SES MessageRejected, a malformed address)
 * - quota: the account may send no more today; stop the run, keep the rest pending
 */
export type FailureKind = 'transient' | 'permanent' | 'quota';

/**
 * Where in the exchange a send failed. Everything up to and including the sender belongs to
 * the session: the relay or our configuration is wrong and every recipient would fail the same
 * way. Only a refused recipient or a refused message body is about this one recipient.
 */
export type FailureStage =
  | 'connection' // refused, reset, timed out, DNS
  | 'tls' // STARTTLS missing or failed, certificate not trusted
  | 'greeting' // banner or EHLO refused
  | 'login' // AUTH refused, or a user set for a server without AUTH; SES credentials
  | 'sender' // MAIL FROM refused; SES unverified sender, paused account
  | 'recipient' // RCPT TO refused; SES rejected destination
  | 'data'; // the message itself refused after DATA

export type FailureScope = 'session' | 'recipient';

export function scopeOf(stage: FailureStage): FailureScope {
  return stage === 'recipient' || stage === 'data' ? 'recipient' : 'session';
}

export interface SendFailure {
  ok: false;
  kind: FailureKind;
  stage: FailureStage;
  /** The server's reply (or the error), one line, no secrets. */
  reason: string;
  /** What the operator should check, for session-scope failures. */
  hint?: string | undefined;
}

export type SendResult = { ok: true; providerId?: string | undefined } | SendFailure;

/** Carries composed messages; knows nothing of digests or subscribers. */
export interface Transport {
  readonly name: string;
  send(message: OutgoingMessage): Promise<SendResult>;
  close(): Promise<void>;
}
