import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { resolve, dirname } from 'node:path';
import nodemailer, { type Mail } from 'nodemailer';
import MimeNode from 'nodemailer/lib/mime-node';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { needsSmtpUtf8, withAsciiDomain } from '../../audience/address.js';
import type { Config } from '../../config/load.js';
import type { ConfigFile } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import type { FailureStage, OutgoingMessage, SendFailure, SendResult, Transport } from '../transport.js';
import { installFastDotStuffing } from './dot-stuffing.js';
import { classifySmtpError, type SmtpErrorLike } from './smtp-errors.js';

export { classifySmtpError } from './smtp-errors.js';

type SmtpConfig = Extract<ConfigFile['transport'], { type: 'smtp' }>;

/**
 * The headers the DKIM signature covers. RFC 8058 section 4: receivers offer one-click
 * unsubscribe only when both List-Unsubscribe and List-Unsubscribe-Post are signed.
 */
export const DKIM_SIGNED_HEADERS = [
  'From', 'Sender', 'Reply-To', 'To', 'Cc', 'Subject', 'Date', 'Message-ID',
  'MIME-Version', 'Content-Type', 'Content-Transfer-Encoding',
  'List-Id', 'List-Unsubscribe', 'List-Unsubscribe-Post',
].join(':');

function dkimOptions(smtp: SmtpConfig, config: Config, env: NodeJS.ProcessEnv) {
  if (!smtp.dkim) return undefined;
  const { domainName, keySelector, privateKeyFile, privateKeyEnv } = smtp.dkim;
  let privateKey: string | undefined;
  if (privateKeyFile) {
    try {
      privateKey = readFileSync(resolve(dirname(config.file), privateKeyFile), 'utf8');
    } catch (err) {
      throw new ConfigError(`transport.dkim.privateKeyFile: cannot read ${privateKeyFile}: ${(err as Error).message}`);
    }
  } else {
    privateKey = env[privateKeyEnv!];
    if (!privateKey) throw new ConfigError(`transport.dkim.privateKeyEnv: the environment variable ${privateKeyEnv} is not set`);
  }
  return { domainName, keySelector, privateKey, headerFieldNames: DKIM_SIGNED_HEADERS };
}

/** `smtps://user:pass@host:465` -> connection settings (the URL is a secret: never logged). */
function serverFromUrl(url: string, variable: string) {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`transport.urlEnv: ${variable} does not hold a valid URL`, 'Use smtp://user:password@host:587 or smtps://...:465.');
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
    throw new ConfigError(`transport.urlEnv: ${variable} must be an smtp:// or smtps:// URL`);
  }
  const secure = parsed.protocol === 'smtps:';
  return {
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : secure ? 465 : 587,
    secure,
    auth: parsed.username ? { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } : undefined,
  };
}

/**
 * The EHLO name: `transport.name`, else this host's name when it is a full domain name, else the
 * From domain. Never an address literal: strict relays refuse `[127.0.0.1]` as a greeting.
 */
export function ehloName(smtp: { name?: string | undefined }, fromAddress: string, host: string = hostname()): string {
  if (smtp.name) return smtp.name;
  if (/^(?=.{4,253}$)[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$/i.test(host) && !/\.local(domain)?$/i.test(host)) return host;
  return fromAddress.slice(fromAddress.lastIndexOf('@') + 1);
}

/** TLS options from `transport.tls`: a CA file to trust, the name to verify, the lowest version. */
function tlsOptions(smtp: SmtpConfig, config: Config) {
  const tls = smtp.tls;
  let ca: string | undefined;
  if (tls?.caFile) {
    try {
      ca = readFileSync(resolve(dirname(config.file), tls.caFile), 'utf8');
    } catch (err) {
      throw new ConfigError(`transport.tls.caFile: cannot read ${tls.caFile}: ${(err as Error).message}`, 'Point it at the PEM file of the CA that signed the server certificate.');
    }
  }
  return {
    // Always verify; a private CA is trusted by naming it, never by turning verification off.
    rejectUnauthorized: true,
    minVersion: tls?.minVersion ?? 'TLSv1.2',
    ...(ca ? { ca } : {}),
    ...(tls?.servername ? { servername: tls.servername } : {}),
  } as const;
}

/** What to check, per place of failure: printed with the server's reply when a run stops. */
function hintFor(stage: FailureStage, certificate: boolean, ctx: { passwordSource: string; from: string; requireTLS: boolean }): string | undefined {
  switch (stage) {
    case 'connection':
      return 'Check transport.host and transport.port, and that the server is up and reachable from here.';
    case 'tls':
      return certificate
        ? "The server's certificate did not verify: set transport.tls.caFile to the CA that signed it, or transport.tls.servername to the name in the certificate."
        : ctx.requireTLS
          ? 'TLS could not be set up: the server must offer STARTTLS (transport.requireTLS is true), or use secure: true on port 465; check transport.tls.minVersion.'
          : 'TLS could not be set up: check the port (465 needs secure: true) and transport.tls.minVersion.';
    case 'greeting':
      return 'The server refused the greeting: check transport.name (the EHLO name) and that this host may use the server.';
    case 'login':
      return `Check transport.user and the password in ${ctx.passwordSource}, and that the server lets this account (or, without transport.user, this host) relay.`;
    case 'sender':
      return `The server refused the sender ${ctx.from}: check that this account may send as list.from.address.`;
    default:
      return undefined;
  }
}

/** The line end nodemailer's message stream (its LastNewline stage) makes sure a message ends with. */
const CRLF = Buffer.from('\r\n');

/**
 * A message whose bytes are final, as nodemailer's pool takes it (a MimeNode: its envelope and
 * Message-ID), streamed as one chunk. A MimeNode made with setRaw streams the same bytes through
 * a PassThrough, a LastNewline transform and stream.pipeline (an AbortController and a
 * DOMException per message), about 0.1 ms of CPU a message; here the one thing that stage
 * did, ending the bytes with a line break, is done on the chunk.
 */
class FinishedMessage extends MimeNode {
  constructor(private readonly bytes: Buffer) {
    // A fixed boundary: the node writes no MIME structure, and a random one costs randomBytes per message.
    super('message/rfc822', { baseBoundary: 'raw' });
  }

  override createReadStream(): Readable {
    const last = this.bytes[this.bytes.length - 1];
    const ending = last === 0x0a ? null : last === 0x0d ? CRLF.subarray(1) : CRLF;
    const chunks = ending ? [this.bytes, ending] : [this.bytes];
    let next = 0;
    return new Readable({
      read() {
        this.push(next < chunks.length ? chunks[next++] : null);
      },
    });
  }
}

/**
 * nodemailer's pooled SMTP transport carrying the composed bytes as they are (`raw`), so the
 * message is exactly what the outbox or SES would carry. The password or URL comes from the
 * environment only. Before the first message one probe connection checks the session (TLS,
 * greeting, login), so a wrong setting costs one handshake, not one per recipient.
 */
export class SmtpTransport implements Transport {
  readonly name = 'smtp';
  private readonly mailer: Mail;
  private readonly connection: SMTPConnection.Options;
  private readonly auth: { user: string; pass: string } | undefined;
  private readonly hintContext: { passwordSource: string; from: string; requireTLS: boolean };
  private sessionChecked: Promise<SendFailure | null> | null = null;
  private sessionOk = false;
  /** Whether the relay has accepted a message in this process (see classifySmtpError). */
  private acceptedAny = false;
  /** Whether the server offered SMTPUTF8 (RFC 6531) after EHLO, as the probe saw it. */
  private smtpUtf8 = false;
  /** DKIM signing is set up: messages go through Mail#sendMail, which adds the signer. */
  private readonly signs: boolean;

  constructor(config: Config, env: NodeJS.ProcessEnv = process.env) {
    if (config.transport.type !== 'smtp') throw new Error('not an smtp config');
    const smtp = config.transport;
    const url = smtp.urlEnv ? env[smtp.urlEnv] : undefined;
    if (smtp.urlEnv && !url) {
      throw new ConfigError(`transport.urlEnv: the environment variable ${smtp.urlEnv} is not set`, 'Set it to smtp(s)://user:password@host:port.');
    }
    if (!url && !smtp.host) throw new ConfigError('transport.host: set the SMTP host (or transport.urlEnv)');
    const password = env[smtp.passwordEnv];
    if (!url && smtp.user && !password) {
      throw new ConfigError(
        `transport.passwordEnv: the environment variable ${smtp.passwordEnv} is not set (needed for transport.user ${smtp.user})`,
      );
    }
    const server = url ? serverFromUrl(url, smtp.urlEnv!) : null;
    const secure = server?.secure ?? smtp.secure;
    this.auth = server?.auth ?? (smtp.user ? { user: smtp.user, pass: password! } : undefined);
    this.connection = {
      host: server?.host ?? smtp.host,
      port: server?.port ?? smtp.port,
      secure,
      requireTLS: !secure && smtp.requireTLS,
      name: ehloName(smtp, config.list.from.address),
      tls: tlsOptions(smtp, config),
      connectionTimeout: smtp.timeoutMs,
      greetingTimeout: smtp.timeoutMs,
      socketTimeout: smtp.timeoutMs,
    };
    this.hintContext = {
      passwordSource: url ? `the URL in ${smtp.urlEnv}` : smtp.passwordEnv,
      from: config.list.from.address,
      requireTLS: Boolean(this.connection.requireTLS),
    };
    const dkim = dkimOptions(smtp, config, env);
    this.signs = dkim !== undefined;
    // The same DATA bytes as nodemailer's encoder, found at a fraction of its CPU (see dot-stuffing.ts).
    installFastDotStuffing();
    this.mailer = nodemailer.createTransport({
      ...this.connection,
      pool: true,
      maxConnections: smtp.maxConnections,
      maxMessages: smtp.maxMessagesPerConnection,
      dkim,
      ...(this.auth ? { auth: this.auth } : {}),
    });
  }

  /**
   * Hands finished bytes to the pool. Mail#sendMail would build a message object, run its
   * compile plugins and a composer over a message that is raw already (about a tenth of the
   * pool's own CPU per message, random Message-ID and boundary included) before doing the same:
   * here the pool (nodemailer's transport interface, send(mail, callback)) gets the raw MimeNode
   * with the envelope directly. With DKIM the message goes through sendMail, which signs it.
   */
  private deliver(envelope: { from: string; to: string }, raw: Buffer, messageId: string): Promise<{ response?: string | undefined }> {
    if (this.signs) return this.mailer.sendMail({ envelope, raw });
    const message = new FinishedMessage(raw).setEnvelope(envelope);
    // Read by the pool for its log line; the node streams its bytes only, never this header.
    message.setHeader('Message-ID', messageId);
    const transporter = this.mailer.transporter as unknown as { send(mail: unknown, callback: (err: Error | null, info: { response?: string }) => void): void };
    return new Promise((resolve, reject) => transporter.send({ data: { envelope, raw }, message }, (err, info) => (err ? reject(err) : resolve(info))));
  }

  private failure(err: SmtpErrorLike): SendFailure {
    const c = classifySmtpError(err, { acceptedAny: this.acceptedAny });
    return { ok: false, kind: c.kind, stage: c.stage, reason: c.reason, hint: hintFor(c.stage, c.certificate, this.hintContext) };
  }

  /** One connection through EHLO, STARTTLS and AUTH: a session problem shows here, once. */
  private probe(): Promise<SendFailure | null> {
    return new Promise((resolve) => {
      const conn = new SMTPConnection(this.connection);
      let settled = false;
      const done = (failure: SendFailure | null) => {
        if (settled) return;
        settled = true;
        if (failure) conn.close();
        else conn.quit();
        resolve(failure);
      };
      conn.once('error', (err: SmtpErrorLike) => done(this.failure(err)));
      conn.connect((err) => {
        if (err) return done(this.failure(err as SmtpErrorLike));
        // nodemailer keeps the EHLO extensions in a field it does not document; it is the only
        // place to learn whether an internationalised mailbox can be delivered to.
        this.smtpUtf8 = ((conn as unknown as { _supportedExtensions?: string[] })._supportedExtensions ?? []).includes('SMTPUTF8');
        if (!this.auth) return done(null);
        if (!conn.allowsAuth) {
          return done({
            ok: false,
            kind: 'permanent',
            stage: 'login',
            reason: `transport.user is set (${this.auth.user}) but the server offers no login (no AUTH after EHLO${conn.secure ? ' over TLS' : ''})`,
            hint: 'Remove transport.user if this relay accepts mail without a login, or enable SMTP AUTH on the server (often only offered after STARTTLS).',
          });
        }
        conn.login(this.auth, (loginErr) => done(loginErr ? this.failure(loginErr as SmtpErrorLike) : null));
      });
    });
  }

  /** Concurrent first sends share one probe; a transient failure is probed again on the next send. */
  private checkSession(): Promise<SendFailure | null> {
    if (this.sessionOk) return Promise.resolve(null);
    this.sessionChecked ??= this.probe().then((failure) => {
      // A transient failure (a refused connection, 4xx) is probed again by the next send; a
      // permanent one (535, a certificate that does not verify) holds for the whole run: one
      // handshake, one reply, however many recipients are waiting.
      if (!failure) this.sessionOk = true;
      else if (failure.kind === 'transient') this.sessionChecked = null;
      return failure;
    });
    return this.sessionChecked;
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    const sessionFailure = await this.checkSession();
    if (sessionFailure) return sessionFailure;
    const { from, to } = message.envelope;
    if ((needsSmtpUtf8(to) || needsSmtpUtf8(from)) && !this.smtpUtf8) {
      const address = needsSmtpUtf8(to) ? to : from;
      return {
        ok: false,
        kind: 'permanent',
        stage: needsSmtpUtf8(to) ? 'recipient' : 'sender',
        reason: `${address} has non-ASCII characters before the @, which needs SMTPUTF8 (RFC 6531), and ${this.connection.host} does not offer it`,
        hint: 'Send through a server that supports SMTPUTF8 (Postfix 3+ with smtputf8_enable, Exim 4.88+, most providers), or ask the reader for an ASCII address.',
      };
    }
    try {
      // A domain goes in its ASCII (punycode) form, which every server takes.
      const envelope = { from: needsSmtpUtf8(from) ? from : withAsciiDomain(from), to: needsSmtpUtf8(to) ? to : withAsciiDomain(to) };
      const info = await this.deliver(envelope, message.raw, message.messageId);
      this.acceptedAny = true;
      return { ok: true, providerId: info.response };
    } catch (err) {
      return this.failure(err as SmtpErrorLike);
    }
  }

  async close(): Promise<void> {
    this.mailer.close();
  }
}
