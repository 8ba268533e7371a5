import { isIP } from 'node:net';
import cron from 'node-cron';
import { z } from 'zod';
import { ianaTimeZone } from '../cadence/time.js';

/** The same IANA check the reader preferences use. */
const timeZone = ianaTimeZone;

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name, e.g. "SMTP_PASSWORD"');

const outboxTransport = z.strictObject({
  type: z.literal('outbox'),
  /** Also write each message's HTML body as `<address>.html` next to the `.eml`. */
  htmlCopy: z.boolean().default(false),
});

const smtpTransport = z.strictObject({
  type: z.literal('smtp'),
  /** Either host/port here, or a whole smtp(s):// URL in the environment variable `urlEnv`. */
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).default(587),
  /** true: TLS from the first byte (port 465). false: plain, upgraded by STARTTLS when offered. */
  secure: z.boolean().default(false),
  /** Refuse to send unless STARTTLS succeeds (with secure: false). */
  requireTLS: z.boolean().default(true),
  user: z.string().optional(),
  /** Environment variable holding the SMTP password (never the password itself). */
  passwordEnv: envName.default('SMTP_PASSWORD'),
  /** Environment variable holding a full SMTP URL (smtps://user:pass@host:465); overrides host/port/user. */
  urlEnv: envName.optional(),
  /** EHLO name; default: this host's name when it is a full domain name, else the From domain. */
  name: z.string().regex(/^[A-Za-z0-9.-]+$/, 'must be a host name, e.g. "mail.example.org"').optional(),
  /** Server certificate checks (always on): a private CA to trust, the name to verify, the lowest TLS version. */
  tls: z
    .strictObject({
      /** PEM file (relative to the config file) of a CA to trust besides the system ones. */
      caFile: z.string().min(1).optional(),
      /** Name the certificate must carry, when it differs from transport.host (e.g. host is an IP). */
      servername: z.string().min(1).optional(),
      minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    })
    .optional(),
  maxConnections: z.number().int().min(1).max(50).default(5),
  /** Messages per pooled connection before it is recycled. */
  maxMessagesPerConnection: z.number().int().min(1).default(100),
  timeoutMs: z.number().int().min(1000).default(60_000),
  dkim: z
    .strictObject({
      domainName: z.string().min(1),
      keySelector: z.string().min(1),
      /** PEM private key: a file path (relative to the config file) or an environment variable. */
      privateKeyFile: z.string().optional(),
      privateKeyEnv: envName.optional(),
    })
    .refine((d) => Boolean(d.privateKeyFile) !== Boolean(d.privateKeyEnv), {
      message: 'set exactly one of privateKeyFile or privateKeyEnv',
    })
    .optional(),
});

const sesTransport = z.strictObject({
  type: z.literal('ses'),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region, e.g. "eu-west-1"'),
  /** Only for emulators and VPC endpoints; credentials always come from the SDK's default chain. */
  endpoint: z.url().optional(),
  /** SES configuration set for bounce, complaint and delivery events. */
  configurationSet: z.string().min(1).optional(),
});


/** One proxy address or CIDR block, as Fastify's trustProxy (proxy-addr) takes them. */
const proxyAddress = z.string().refine((v) => {
  const [address, bits, extra] = v.split('/');
  const family = isIP(address ?? '');
  if (!family || extra !== undefined) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}, 'must be an IP address or a CIDR block such as 10.0.0.0/8');

const trustProxySchema = z
  .union([z.literal(false), z.number().int().min(1).max(10), z.array(proxyAddress).min(1).max(100)], {
    error: (issue) =>
      issue.input === true
        ? 'true would trust whatever a client writes in X-Forwarded-For; name your proxies (["10.0.0.5"] or CIDRs) or give the number of proxy hops (1)'
        : 'must be false, a number of proxy hops, or a list of proxy addresses/CIDRs',
  })
  .default(false);

export const configSchema = z.strictObject({
  list: z.strictObject({
    /** Human name of the newsletter, used in From, List-Id and the footer. */
    name: z.string().min(1),
    /** List-Id identifier (RFC 2919): a domain-like string you control. */
    id: z.string().regex(/^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/, 'must look like a domain, e.g. "mllm-digest.example.org"'),
    from: z.strictObject({ name: z.string().min(1), address: z.email() }),
    replyTo: z.email().optional(),
    /** Address that handles `mailto:` unsubscribes in List-Unsubscribe. */
    unsubscribeMailto: z.email(),
    /** Postal address shown in the footer (CAN-SPAM and similar laws ask for one). */
    postalAddress: z.string().max(200).optional(),
  }),
  /** Public URL of the subscription web app; manage and unsubscribe links point here. */
  baseUrl: z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, '')),
  /** Time zone that decides what "today" is (a section dated after today is not sent yet). */
  timezone: timeZone.default('UTC'),
  paths: z
    .strictObject({
      digests: z.string().default('digests'),
      subscribers: z.string().default('subscribers.example.json'),
      topics: z.string().default('topics.json'),
      templates: z.string().default('templates'),
      state: z.string().default('state'),
      outbox: z.string().default('outbox'),
    })
    .prefault({}),
  render: z
    .strictObject({
      /** Gmail clips HTML bodies over about 102 KB; stay below with room for per-recipient links. */
      maxHtmlBytes: z.number().int().min(20_000).max(102_000).default(100_000),
      /** How many authors are listed before "et al.". */
      maxAuthors: z.number().int().min(1).default(6),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** A digest file larger than this is an error naming the file; the other files still go. */
      maxDigestFileBytes: z.number().int().min(1024).default(20 * 1024 * 1024),
      /** Each text field of a paper (title, motivation, method, abstract, extras) is cut to this many characters, in HTML and text alike. */
      maxFieldChars: z.number().int().min(200).max(100_000).default(5_000),
      /** A finished message larger than this is not sent: recorded as failed (permanent) with the reason. */
      maxMessageBytes: z.number().int().min(10_000).default(1_000_000),
    })
    .prefault({}),
  tokens: z
    .strictObject({
      /** Name of the environment variable holding the HMAC secret (never the secret itself). */
      secretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).default('DIGEST_MAILER_SECRET'),
      /** Lifetime of manage/unsubscribe links in emails. */
      linkTtlDays: z.number().int().min(30).default(365),
    })
    .prefault({}),
  transport: z.discriminatedUnion('type', [outboxTransport, smtpTransport, sesTransport]).prefault({ type: 'outbox' }),
  delivery: z
    .strictObject({
      /** Messages per second (token bucket). SES accounts have a maximum send rate; relays have limits too. */
      ratePerSecond: z.number().positive().max(1_000_000).default(10),
      /** Messages in flight at once. */
      concurrency: z.number().int().min(1).max(100).default(8),
      /**
       * Worker threads that splice messages (links signed, headers, personal lines encoded) beside
       * the thread that talks to the store and the relay; 0: splice there too. SMTP and SES only
       * (the outbox splices in the run's thread). See README "Benchmarks" for what it gains.
       */
      composeThreads: z.number().int().min(0).max(16).default(0),
      /** Attempts per message for transient failures (4xx, dropped connections, throttling), first one included. */
      maxAttempts: z.number().int().min(1).max(100).default(30),
      /**
       * How long a message keeps being retried after its first attempt (backoff with jitter).
       * A relay restart or a rate-limit window shorter than this finishes in the same run.
       */
      retryWindowMs: z.number().int().min(0).max(86_400_000).default(600_000),
      /** Session failures (login, TLS, sender refused...) in a row before the run stops with everyone left pending. */
      sessionFailureLimit: z.number().int().min(1).max(100).default(3),
      /** First retry delay; doubles each attempt, with full jitter, capped at maxRetryDelayMs. */
      retryBaseDelayMs: z.number().int().min(1).default(2_000),
      maxRetryDelayMs: z.number().int().min(1).default(60_000),
    })
    .prefault({}),
  /** Where all state lives (subscribers, sections, deliveries, counters): see README "Storage". */
  store: z
    .strictObject({
      /** sqlite: one file, no server (the default). postgres: a server, for several workers. */
      engine: z.enum(['sqlite', 'postgres']).default('sqlite'),
      /** SQLite file, relative to the config file; default: digest-mailer.db in paths.state. */
      file: z.string().min(1).optional(),
      /** Environment variable holding the PostgreSQL connection URL (never the URL itself). */
      urlEnv: envName.default('DATABASE_URL'),
      /** PostgreSQL connections per process. */
      poolSize: z.number().int().min(1).max(100).default(10),
    })
    .prefault({}),
  web: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      /**
       * Behind a reverse proxy: which proxies may tell the client address in X-Forwarded-For,
       * by address or CIDR (["10.0.0.5", "10.1.0.0/16"]) or as the number of proxy hops in
       * front of the app. Never "everyone": the left-most entry is written by the client.
       */
      trustProxy: trustProxySchema,
      bodyLimitBytes: z.number().int().min(1024).max(1_048_576).default(16_384),
      /**
       * A whole request (headers and body) must arrive within this time, or the connection is
       * closed (408): a client that dribbles its request byte by byte holds no socket for long.
       */
      requestTimeoutMs: z.number().int().min(500).max(300_000).default(20_000),
      /**
       * A floor under the answer time of every subscribe and link request (ms after it arrived).
       * 0 by default: both answers do the same work whatever the address (one intake row, one
       * counter write) and look the address up only after answering. A floor additionally hides
       * the background work of earlier requests from the timing of later ones.
       */
      subscribeAnswerMs: z.number().int().min(0).max(10_000).default(0),
      /** Lifetime of the double opt-in confirmation link. */
      confirmTtlHours: z.number().int().min(1).max(24 * 14).default(48),
      /** A pending (unconfirmed) subscriber is deleted this long after subscribing. */
      pendingExpiryDays: z.number().int().min(1).max(90).default(7),
      /**
       * A subscribe request the server gave up on (kept for `db intake retry`) is deleted with its
       * address and name this long after it was given up. Handled requests are deleted at once.
       */
      intakeRetentionDays: z.number().int().min(1).max(365).default(30),
      /** Subscribe form posts per client IP per minute. */
      subscribePerIpPerMinute: z.number().int().min(1).default(10),
      /** Confirmation emails per address per hour (more requests get the same answer, no email). */
      confirmationsPerAddressPerHour: z.number().int().min(1).default(3),
      /** "Send me my link" requests per client IP per hour, counted in the store (more get 429). */
      linkRequestsPerIpPerHour: z.number().int().min(1).default(20),
      /** Preference-link emails per address per hour (more requests get the same answer, no email). */
      linkEmailsPerAddressPerHour: z.number().int().min(1).default(3),
    })
    .prefault({}),
  preview: z
    .strictObject({
      /** The preview is for your own machine: keep it on loopback. */
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8081),
    })
    .prefault({}),
  webhooks: z
    .strictObject({
      ses: z
        .strictObject({
          /** Host names (regular expressions) allowed for SigningCertURL and SubscribeURL. */
          trustedHosts: z.array(z.string().min(1)).default(['^sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$']),
          /** Only accept messages from these SNS topics (empty: any topic). */
          topicArns: z.array(z.string().min(1)).default([]),
          /** Certificates by SigningCertURL, as PEM files: used instead of downloading (offline, tests). */
          pinnedCertificates: z.record(z.string(), z.string()).default({}),
          /** Allow http:// URLs (tests on 127.0.0.1 only; SNS itself always uses https). */
          allowHttp: z.boolean().default(false),
        })
        .prefault({}),
    })
    .prefault({}),
  schedule: z
    .strictObject({
      /** node-cron expression (minute hour day month weekday). */
      cron: z
        .string()
        .refine((c) => cron.validate(c), 'is not a valid cron expression (e.g. "0 7 * * *")')
        .default('0 7 * * *'),
      /** IANA zone for the cron expression; defaults to the top-level timezone. */
      timezone: timeZone.optional(),
      /**
       * Between the cron's ticks, a pass every this many minutes sends what has become due
       * (readers' own hours); 0: only at the cron's ticks. A divisor of 60.
       */
      tickMinutes: z
        .number()
        .int()
        .min(0)
        .max(60)
        .refine((n) => n === 0 || 60 % n === 0, 'must divide 60 (5, 10, 15, 20, 30 or 60), or be 0')
        .default(15),
      /** While a section is unfinished (transient failures, a stopped run), try again this often... */
      retryIntervalMinutes: z.number().int().min(1).max(720).default(15),
      /** ...until this many hours after the tick that started the day's send. */
      retryForHours: z.number().min(0).max(24).default(12),
    })
    .prefault({}),
});

export type ConfigFile = z.infer<typeof configSchema>;
