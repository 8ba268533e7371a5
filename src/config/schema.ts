import { z } from 'zod';

const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'is not an IANA time zone (e.g. "Europe/Berlin", "UTC")' },
);

const outboxTransport = z.strictObject({ type: z.literal('outbox') });

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
  tokens: z
    .strictObject({
      /** Name of the environment variable holding the HMAC secret (never the secret itself). */
      secretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).default('DIGEST_MAILER_SECRET'),
      /** Lifetime of manage/unsubscribe links in emails. */
      linkTtlDays: z.number().int().min(30).default(365),
    })
    .prefault({}),
  transport: z.discriminatedUnion('type', [outboxTransport]).prefault({ type: 'outbox' }),
});

export type ConfigFile = z.infer<typeof configSchema>;
