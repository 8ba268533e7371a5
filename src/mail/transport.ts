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

export type SendResult =
  | { ok: true; providerId?: string }
  | { ok: false; permanent: boolean; reason: string };

/** Carries composed messages; knows nothing of digests or subscribers. */
export interface Transport {
  readonly name: string;
  send(message: OutgoingMessage): Promise<SendResult>;
  close(): Promise<void>;
}
