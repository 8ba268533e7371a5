/**
 * Which Node versions this project supports (package.json "engines"): 20.11+ still works and is
 * tested (it is the machine's Node), but it reached end of life in April 2026; .ci/run also
 * runs the suite on the newest LTS. Libraries have started to drop 20: the AWS SDK for SES
 * prints a multi-line warning on every client it creates. We say it once, in one line.
 */
export const OLDEST_MAINTAINED_NODE_MAJOR = 22;

let noted = false;

/** Once per process on a Node older than 22: one line to `warn`, and the AWS SDK's own warning off. */
export function noteUnmaintainedNode(warn: (line: string) => void = console.error, version = process.version, env: NodeJS.ProcessEnv = process.env): void {
  const major = Number(/^v(\d+)/.exec(version)?.[1]);
  if (!(major < OLDEST_MAINTAINED_NODE_MAJOR)) return;
  // The user may have chosen to see (or silence) the SDK's warning: leave their setting alone.
  if (env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED !== undefined) return;
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  if (noted) return;
  noted = true;
  warn(
    `digest-mailer: Node ${version} is past its end of life; AWS SDK releases from January 2027 need Node ${OLDEST_MAINTAINED_NODE_MAJOR}+. ` +
      'Upgrade to a maintained LTS (the suite runs on Node 20 and the newest LTS).',
  );
}

/**
 * Node flags the command runs with (the shebang of bin/digest-mailer.js, `npm start`, the
 * workers of `run --workers N`; a test keeps them in step). A young generation of 4 MB instead
 * of V8's 16 MB: a send allocates fast and keeps little, and a 10,000-recipient pass peaked at
 * 283 MB resident with it against 332 MB without (see "Benchmarks").
 */
export const NODE_FLAGS = ['--max-semi-space-size=4'] as const;
