import { readFileSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import nodemailer, { type Mail } from 'nodemailer';
import type { Config } from '../../config/load.js';
import type { ConfigFile } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import type { FailureKind, OutgoingMessage, SendResult, Transport } from '../transport.js';

type SmtpConfig = Extract<ConfigFile['transport'], { type: 'smtp' }>;

const TRANSIENT_CODES = new Set([
  'ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'EHOSTUNREACH',
  'ENETUNREACH', 'EAI_AGAIN', 'EDNS', 'ETLS', 'EPROTOCOL',
]);

/** SMTP replies: 4xx and connection trouble are worth retrying, 5xx are final. */
export function classifySmtpError(err: { responseCode?: number; code?: string; message?: string }): FailureKind {
  if (typeof err.responseCode === 'number') return err.responseCode >= 500 ? 'permanent' : 'transient';
  if (err.code && TRANSIENT_CODES.has(err.code)) return 'transient';
  if (err.code === 'EENVELOPE' || err.code === 'EMESSAGE') return 'permanent';
  return 'transient';
}

function smtpReason(err: { response?: string; message?: string; code?: string }): string {
  return (err.response ?? err.message ?? err.code ?? 'unknown SMTP error').replace(/\s+/g, ' ').slice(0, 500);
}

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
  return { domainName, keySelector, privateKey };
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
 * nodemailer's pooled SMTP transport carrying the composed bytes as they are (`raw`), so the
 * message is exactly what the outbox or SES would carry. The password or URL comes from the
 * environment only.
 */
export class SmtpTransport implements Transport {
  readonly name = 'smtp';
  private readonly mailer: Mail;

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
    const common = {
      pool: true as const,
      maxConnections: smtp.maxConnections,
      maxMessages: smtp.maxMessagesPerConnection,
      connectionTimeout: smtp.timeoutMs,
      greetingTimeout: smtp.timeoutMs,
      socketTimeout: smtp.timeoutMs,
      dkim: dkimOptions(smtp, config, env),
    };
    const server = url ? serverFromUrl(url, smtp.urlEnv!) : null;
    this.mailer = nodemailer.createTransport({
      ...common,
      host: server?.host ?? smtp.host,
      port: server?.port ?? smtp.port,
      secure: server?.secure ?? smtp.secure,
      requireTLS: !(server?.secure ?? smtp.secure) && smtp.requireTLS,
      ...(server?.auth ? { auth: server.auth } : smtp.user ? { auth: { user: smtp.user, pass: password } } : {}),
    });
  }

  async send(message: OutgoingMessage): Promise<SendResult> {
    try {
      const info = await this.mailer.sendMail({ envelope: message.envelope, raw: message.raw });
      return { ok: true, providerId: info.response };
    } catch (err) {
      const e = err as { responseCode?: number; code?: string; message?: string; response?: string };
      return { ok: false, kind: classifySmtpError(e), reason: smtpReason(e) };
    }
  }

  async close(): Promise<void> {
    this.mailer.close();
  }
}
