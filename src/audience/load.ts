import { describeZodIssues } from '../config/load.js';
import { InputError, type Problem } from '../errors.js';
import { readJsonFile } from '../json-file.js';
import { addressKey, subscriberSchema, subscribersFileSchema, type Subscriber } from './schema.js';

export interface SubscriberList {
  subscribers: Subscriber[];
  /** Entries left out, each naming its index, address and field. */
  problems: Problem[];
}

/** A subscriber naming a topic the taxonomy does not have: reported and left out, never guessed. */
export function topicProblem(subscriber: Pick<Subscriber, 'topics' | 'excludeTopics'>, topicIds: ReadonlySet<string>): Omit<Problem, 'where'> | null {
  const unknown = [...subscriber.topics, ...subscriber.excludeTopics].filter((t) => !topicIds.has(t));
  if (unknown.length === 0) return null;
  return {
    message: `unknown topic id${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => `"${t}"`).join(', ')}`,
    hint: `Known topics: ${[...topicIds].join(', ')}.`,
  };
}

/**
 * Validates each entry on its own: a bad entry is reported and left out, and the others
 * still get their mail.
 */
export function parseSubscribers(raw: unknown, file: string, topicIds: ReadonlySet<string>): SubscriberList {
  const top = subscribersFileSchema.safeParse(raw);
  if (!top.success) {
    throw new InputError(
      `${file} is not a subscriber list:\n  ${describeZodIssues(top.error.issues).join('\n  ')}`,
      'The file is {"subscribers": [ {"email": "...", ...}, ... ]}; see subscribers.example.json.',
    );
  }
  const subscribers: Subscriber[] = [];
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  top.data.subscribers.forEach((entry, index) => {
    const email =
      entry && typeof entry === 'object' && 'email' in entry && typeof entry.email === 'string' ? entry.email : '?';
    const where = `${file} entry #${index} (${email})`;
    const result = subscriberSchema.safeParse(entry);
    if (!result.success) {
      problems.push({ where, message: describeZodIssues(result.error.issues).join('; '), hint: 'Fix or remove this entry.' });
      return;
    }
    const problem = topicProblem(result.data, topicIds);
    if (problem) {
      problems.push({ where, ...problem });
      return;
    }
    const key = addressKey(result.data.email);
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push({ where, message: `the same address as entry #${first}`, hint: 'Keep one entry per address.' });
      return;
    }
    seen.set(key, index);
    subscribers.push(result.data);
  });
  return { subscribers, problems };
}

export async function loadSubscribers(file: string, topicIds: ReadonlySet<string>): Promise<SubscriberList> {
  const raw = await readJsonFile(file, 'the subscribers file', 'Set paths.subscribers in the config file.');
  return parseSubscribers(raw, file, topicIds);
}
