import type { FailureKind, FailureStage } from '../transport.js';

/** The fields nodemailer puts on an SMTP error. */
export interface SmtpErrorLike {
  code?: string | undefined;
  /** The command that got the reply: CONN, EHLO, STARTTLS, AUTH PLAIN, MAIL FROM, RCPT TO, DATA, API. */
  command?: string | undefined;
  responseCode?: number | undefined;
  response?: string | undefined;
  message?: string | undefined;
  /** The system error code under nodemailer's own (ECONNREFUSED, DEPTH_ZERO_SELF_SIGNED_CERT). */
  originalCode?: string | undefined;
}

export interface SmtpClassification {
  kind: FailureKind;
  stage: FailureStage;
  reason: string;
  /** A certificate that does not verify: it will not verify on the next attempt either. */
  certificate: boolean;
}

const CERTIFICATE = /certificate|self[- ]signed|altnames|CERT_|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/i;
const CONNECTION_CODES = new Set([
  'ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'EHOSTUNREACH',
  'ENETUNREACH', 'EAI_AGAIN', 'EDNS', 'ENOTFOUND', 'EPROTOCOL',
]);

/**
 * Postfix (smtpd_delay_reject, the default) and others answer client, HELO and sender
 * restrictions at RCPT TO. Those replies are about the session, not the recipient: read the
 * enhanced status code (RFC 3463) and the restriction named in the text.
 */
function sessionStageOfRecipientReply(response: string): FailureStage | null {
  if (/Sender address rejected|\b[45]\.1\.[78]\b/i.test(response)) return 'sender';
  if (/Helo command rejected/i.test(response)) return 'greeting';
  if (/Client host rejected/i.test(response)) return 'greeting';
  if (/Relay access denied|Authentication required|\b[45]\.7\.(0|8|9|11|14)\b.*auth/i.test(response)) return 'login';
  return null;
}

/**
 * A policy refusal at RCPT TO (enhanced status 5.7.x, RFC 3463 "security or policy status", or
 * Postfix's generic "Access denied"): on a relay that has accepted nothing yet it says the
 * relay will not take mail from this client or account at all (a submission port whose
 * restrictions end in `reject` without login, say), not that this recipient is wrong.
 */
export function isPolicyRefusal(response: string | undefined): boolean {
  return /\b5\.7\.\d{1,3}\b|Access denied/i.test(response ?? '');
}

function byReply(code: number | undefined, fallback: FailureKind): FailureKind {
  if (typeof code !== 'number') return fallback;
  return code >= 500 ? 'permanent' : 'transient';
}

export function smtpReason(err: SmtpErrorLike): string {
  const text = err.response ?? err.message ?? err.code ?? 'unknown SMTP error';
  const where = err.command && err.command !== 'API' && err.command !== 'CONN' ? ` (after ${err.command})` : '';
  return `${text.replace(/\s+/g, ' ').trim()}${where}`.slice(0, 500);
}

/**
 * Where an SMTP exchange failed, and whether trying again can help. Everything before RCPT TO
 * is the session (see FailureStage): those errors say nothing about the recipient.
 */
export function classifySmtpError(err: SmtpErrorLike, context: { acceptedAny?: boolean } = {}): SmtpClassification {
  const reason = smtpReason(err);
  const code = err.code ?? '';
  const command = (err.command ?? '').toUpperCase();
  const text = `${err.message ?? ''} ${err.originalCode ?? ''}`;
  const result = (stage: FailureStage, kind: FailureKind, certificate = false): SmtpClassification => ({ kind, stage, reason, certificate });

  if ((code === 'ETLS' || code === 'ESOCKET' || command === 'STARTTLS') && CERTIFICATE.test(text)) return result('tls', 'permanent', true);
  // 421: the server is closing the channel (shutting down, too busy) whatever the command.
  if (err.responseCode === 421) return result('connection', 'transient');
  if (code === 'ETLS' || code === 'EREQUIRETLS' || command === 'STARTTLS') {
    if (typeof err.responseCode === 'number') return result('tls', byReply(err.responseCode, 'permanent'));
    // A handshake cut short may work next time; a protocol or version mismatch will not.
    return result('tls', /closed|reset|hang up|ECONNRESET|timeout/i.test(text) ? 'transient' : 'permanent');
  }
  if (code === 'EAUTH' || code === 'ENOAUTH' || command.startsWith('AUTH')) return result('login', byReply(err.responseCode, 'permanent'));
  if (command === 'EHLO' || command === 'HELO' || command === 'LHLO') return result('greeting', byReply(err.responseCode, 'permanent'));
  if (command === 'MAIL FROM') return result('sender', byReply(err.responseCode, 'permanent'));
  if (command === 'RCPT TO') {
    const session = sessionStageOfRecipientReply(err.response ?? '');
    if (session) return result(session, byReply(err.responseCode, 'permanent'));
    // Until the relay has taken one message, a policy refusal cannot be told from "nobody may
    // send here": it leaves the recipient pending (a rerun after the fix sends it), and three in
    // a row stop the run. Once a message went through, the same reply is about the recipient.
    if (!context.acceptedAny && err.responseCode !== undefined && err.responseCode >= 500 && isPolicyRefusal(err.response)) return result('login', 'permanent');
    return result('recipient', byReply(err.responseCode, 'permanent'));
  }
  if (command === 'DATA' || code === 'EMESSAGE') return result('data', byReply(err.responseCode, 'permanent'));
  if (code === 'EENVELOPE') {
    // Refused before talking to the server: a malformed address in the envelope.
    return result(/sender/i.test(err.message ?? '') ? 'sender' : 'recipient', 'permanent');
  }
  if (command === 'CONN' && typeof err.responseCode === 'number') return result('greeting', byReply(err.responseCode, 'transient'));
  if (CONNECTION_CODES.has(code) || CONNECTION_CODES.has(err.originalCode ?? '')) return result('connection', 'transient');
  if (typeof err.responseCode === 'number') return result('data', byReply(err.responseCode, 'transient'));
  return result('connection', 'transient');
}
