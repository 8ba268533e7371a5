import { storedSubscribers } from '../store/project-store.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { loadConfig } from '../../src/config/load.js';
import { createWebApp, type WebApp } from '../../src/web/app.js';
import { TEST_SECRET } from '../cli/cli-helpers.js';
import type { LinkSettings } from '../../src/tokens/links.js';

export interface RunningApp extends WebApp {
  url: string;
  /** Fetches a path (or a full link from an email, re-pointed at this server). */
  get(pathOrLink: string): Promise<Response>;
  post(pathOrLink: string, body: Record<string, string | string[]> | string, contentType?: string, headers?: Record<string, string>): Promise<Response>;
}

/** Starts the real web app of a test project on 127.0.0.1 with an ephemeral port. */
export async function startApp(dir: string, options: { now?: () => Date; links?: Partial<LinkSettings>; drainIntake?: boolean } = {}): Promise<RunningApp> {
  const config = await loadConfig(join(dir, 'config.json'));
  const { links, ...rest } = options;
  const web = await createWebApp(config, { baseUrl: config.baseUrl, secret: TEST_SECRET, ttlDays: 365, ...links }, () => undefined, { logger: false, ...rest });
  await web.app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(web.app.server.address() as AddressInfo).port}`;
  const local = (p: string) => (p.startsWith('http') ? `${url}${new URL(p).pathname}${new URL(p).search}` : `${url}${p}`);
  const form = (body: Record<string, string | string[]>) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(body)) for (const item of Array.isArray(v) ? v : [v]) params.append(k, item);
    return params.toString();
  };
  return {
    ...web,
    url,
    get: (p) => fetch(local(p), { redirect: 'manual' }),
    post: (p, body, contentType = 'application/x-www-form-urlencoded', headers = {}) =>
      fetch(local(p), { method: 'POST', redirect: 'manual', headers: { 'content-type': contentType, ...headers }, body: typeof body === 'string' ? body : form(body) }),
  };
}

/** Every stored subscriber with its consent history, read from the project's database. */
export async function storeFile(dir: string) {
  return storedSubscribers(dir);
}

/** The stored entry of an address with its history (untyped on purpose: tests look at what is stored). */
export async function entry(dir: string, email: string): Promise<any> {
  return (await storeFile(dir)).subscribers.find((s) => s.email === email);
}

/** The first link in a message's HTML whose path starts with `path`. */
export async function linkIn(raw: Buffer, path: string): Promise<string> {
  // Attribute values may carry entities (Handlebars writes "=" as &#x3D;): decode them.
  const html = ((await simpleParser(raw)).html || '').replace(/&#x3D;/g, '=').replace(/&amp;/g, '&');
  const match = new RegExp(`href="(https://digest\\.example\\.org${path}\\?token=[^"]+)"`).exec(html);
  if (!match) throw new Error(`no ${path} link in the message`);
  return match[1]!;
}
