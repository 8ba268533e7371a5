import helmet, { type HelmetOptions } from 'helmet';

/**
 * The response headers helmet sets for `options`, worked out once. @fastify/helmet builds
 * helmet's middleware again on every request (options checked, the policy string joined) in
 * two onRequest hooks; the headers never depend on the request, so the server sets this fixed
 * list instead, with the same helmet deciding what is in it.
 */
export function securityHeaders(options: HelmetOptions): ReadonlyArray<readonly [string, string]> {
  const headers = new Map<string, string>();
  const response = {
    setHeader: (name: string, value: string | number | readonly string[]) => void headers.set(name, String(value)),
    removeHeader: (name: string) => void headers.delete(name),
  };
  helmet(options)({} as never, response as never, (err?: unknown) => {
    if (err) throw err;
  });
  return [...headers];
}
