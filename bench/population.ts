/**
 * A seeded generator of realistic subscriber lists for the benchmark and the render-count test:
 * 30% everything, 50% one to four topics, 20% only a followed author or a keyword; 15% of all
 * readers also exclude a topic. Followed authors and keywords come from the digest itself, so
 * they match real papers. Names include non-Latin, quoted and long ones (header encoding).
 */
import type { Subscriber } from '../src/audience/schema.js';
import type { Section } from '../src/digest/types.js';
import { seededRandom } from '../src/seeded-random.js';


const NAMES = ['Ana López', 'Björn Østergaard', '李明', 'Kwame Mensah', 'Zoë "Z" Martin', 'Ольга Иванова', 'محمد علي', 'Jean-Baptiste de la Fontaine-Montgolfier Saint-Exupéry', 'Priya', ''];
const STOP = new Set(['with', 'from', 'that', 'this', 'into', 'over', 'via', 'for', 'and', 'the', 'towards', 'using']);

export interface PopulationSource {
  topicIds: readonly string[];
  sections: readonly Section[];
}

export function generateSubscribers(count: number, source: PopulationSource, seed = 42): Subscriber[] {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const papers = source.sections.flatMap((s) => s.papers);
  const authors = [...new Set(papers.flatMap((p) => p.authors))];
  const keywords = [...new Set(papers.flatMap((p) => p.title.text.split(/[^\p{L}\p{N}-]+/u)).filter((w) => w.length >= 5 && !STOP.has(w.toLowerCase())))];
  const someTopics = (n: number) => {
    const chosen = new Set<string>();
    while (chosen.size < Math.min(n, source.topicIds.length)) chosen.add(pick(source.topicIds));
    return [...chosen];
  };
  return Array.from({ length: count }, (_, i): Subscriber => {
    const r = random();
    const name = pick(NAMES);
    const subscriber: Subscriber = { email: `reader${i}@example.org`, status: 'active', topics: [], excludeTopics: [], authors: [], keywords: [] };
    if (name) subscriber.name = name;
    if (r < 0.3) {
      // everything
    } else if (r < 0.8) {
      subscriber.topics = someTopics(1 + Math.floor(random() * 4));
    } else if (random() < 0.5) {
      subscriber.authors = [pick(authors)];
    } else {
      subscriber.keywords = [pick(keywords)];
    }
    if (random() < 0.15) {
      const excluded = someTopics(1).filter((t) => !subscriber.topics.includes(t));
      subscriber.excludeTopics = excluded;
    }
    return subscriber;
  });
}
