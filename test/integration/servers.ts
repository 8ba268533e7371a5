import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import * as sesLocal from 'aws-ses-v2-local';

// A CommonJS module with `exports.default`: seen from ESM, the function is one level down.
type StartSes = (config: { host: string; port: number }) => Promise<import('node:http').Server>;
const sesExports = sesLocal as unknown as { default: StartSes | { default: StartSes } };
const startSes: StartSes = typeof sesExports.default === 'function' ? sesExports.default : sesExports.default.default;

export interface ReceivedMail {
  to: string[];
  raw: Buffer;
  /** Whether MAIL FROM carried the SMTPUTF8 parameter. */
  smtpUtf8: boolean;
  /** performance.now() when the message was accepted (for rate measurements). */
  receivedAt: number;
}

export interface SmtpSink {
  port: number;
  messages: ReceivedMail[];
  connections: number;
  /** EHLO names clients greeted with. */
  greetings: string[];
  /** RCPT TO attempts per address, accepted or not. */
  attempts: Map<string, number>;
  close(): Promise<void>;
}

export interface SmtpSinkOptions {
  /** Decide the answer to RCPT TO: undefined accepts, a number rejects with that code. */
  rcpt?: (address: string, attempt: number) => number | undefined;
  /** Delay before accepting DATA, to keep a run busy. */
  dataDelayMs?: number;
  /** Decide the answer to MAIL FROM: undefined accepts, a number rejects with that code. */
  mailFrom?: (address: string) => number | undefined;
  /** Offer AUTH PLAIN/LOGIN and require it with these credentials. */
  auth?: { user: string; pass: string };
  /** Offer STARTTLS with this key and certificate (otherwise STARTTLS is not offered). */
  tls?: { key: string; cert: string };
  /** Listen on this port (a restarted relay); default: an ephemeral one. */
  port?: number;
  /** Do not offer SMTPUTF8 after EHLO (an older relay). */
  hideSmtpUtf8?: boolean;
}

/** A real SMTP server on 127.0.0.1 (the smtp-server package) that keeps what it receives. */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const sink = { messages: [] as ReceivedMail[], connections: 0, greetings: [] as string[], attempts: new Map<string, number>() };
  const disabled = [...(options.tls ? [] : ['STARTTLS']), ...(options.auth ? [] : ['AUTH'])];
  const server = new SMTPServer({
    authOptional: !options.auth,
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    disabledCommands: disabled,
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    logger: false,
    ...(options.hideSmtpUtf8 ? { hideSMTPUTF8: true } : {}),
    size: 10 * 1024 * 1024,
    onConnect(_session, callback) {
      sink.connections++;
      callback();
    },
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        callback(null, { user: auth.username });
        return;
      }
      callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
    },
    onMailFrom(address: SMTPServerAddress, session, callback) {
      sink.greetings.push(session.hostNameAppearsAs);
      const code = options.mailFrom?.(address.address.toLowerCase());
      if (code) {
        callback(Object.assign(new Error(code >= 500 ? 'Sender address rejected: not owned by user' : 'Error: too much mail, try again later'), { responseCode: code }));
        return;
      }
      callback();
    },
    onRcptTo(address: SMTPServerAddress, _session, callback) {
      const key = address.address.toLowerCase();
      const attempt = (sink.attempts.get(key) ?? 0) + 1;
      sink.attempts.set(key, attempt);
      const code = options.rcpt?.(key, attempt);
      if (code) {
        callback(Object.assign(new Error(code >= 500 ? 'Mailbox unavailable' : 'Try again later'), { responseCode: code }));
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const done = () => {
          const args = session.envelope.mailFrom ? (session.envelope.mailFrom.args as Record<string, unknown> | false) : false;
          sink.messages.push({ to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()), raw: Buffer.concat(chunks), smtpUtf8: Boolean(args && args.SMTPUTF8), receivedAt: performance.now() });
          callback();
        };
        if (options.dataDelayMs) setTimeout(done, options.dataDelayMs);
        else done();
      });
    },
  });
  // A client killed mid-session resets its connection: expected in the crash tests.
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    get messages() {
      return sink.messages;
    },
    get connections() {
      return sink.connections;
    },
    greetings: sink.greetings,
    attempts: sink.attempts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface SesEmulator {
  url: string;
  store(): Promise<{ emails: { destination: { to: string[] }; subject: string; body: { html?: string; text?: string } }[] }>;
  clear(): Promise<void>;
  close(): Promise<void>;
}

/** aws-ses-v2-local, the SES API emulator, on 127.0.0.1. */
export async function startSesEmulator(): Promise<SesEmulator> {
  const server = await startSes({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    store: async () => (await fetch(`${url}/store`)).json() as ReturnType<SesEmulator['store']>,
    clear: async () => {
      await fetch(`${url}/clear-store`, { method: 'POST' });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type SesAnswer = 'forward' | { status: number; code: string; message: string };

export interface SesProxy {
  url: string;
  /** Raw MIME of every SendRawEmail request that reached it. */
  requests: { raw: Buffer; params: URLSearchParams; answer: SesAnswer }[];
  close(): Promise<void>;
}

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/**
 * A small proxy in front of the emulator that answers some requests with SES query-API errors
 * (the XML error format the AWS SDK parses) and forwards the rest.
 */
export async function startSesProxy(target: string, decide: (index: number, raw: Buffer) => SesAnswer): Promise<SesProxy> {
  const requests: SesProxy['requests'] = [];
  const server: Server = createServer(async (req, res) => {
    const data = await body(req);
    const params = new URLSearchParams(data.toString());
    const raw = Buffer.from(params.get('RawMessage.Data') ?? '', 'base64');
    const answer = decide(requests.length, raw);
    requests.push({ raw, params, answer });
    if (answer !== 'forward') {
      res.writeHead(answer.status, { 'content-type': 'text/xml' });
      res.end(
        `<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type><Code>${answer.code}</Code><Message>${answer.message}</Message></Error><RequestId>test-${requests.length}</RequestId></ErrorResponse>`,
      );
      return;
    }
    const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.end(data);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export const THROTTLED = { status: 400, code: 'Throttling', message: 'Maximum sending rate exceeded.' };
export const DAILY_QUOTA = { status: 400, code: 'Throttling', message: 'Daily message quota exceeded.' };
export const REJECTED = { status: 400, code: 'MessageRejected', message: 'Email address is not verified.' };
