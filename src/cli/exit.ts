/** Exit codes, documented in README.md ("Exit codes"). */
export const EXIT = {
  ok: 0,
  /** Nothing could be done: bad config, unknown section, invalid input (validate). */
  error: 1,
  usage: 2,
  /** The pass ran, but a delivery failed or a malformed section or subscriber was skipped. */
  partial: 3,
  /** Stopped early (daily quota, SIGTERM): the rest is pending for the next run. */
  incomplete: 4,
  /**
   * The mail server or the configuration refused the session (connection, TLS, login, sender):
   * nothing was recorded against any recipient; fix what the message names and run again.
   */
  session: 5,
  /** Another run holds the lock (EX_TEMPFAIL): nothing was sent; try again later. */
  busy: 75,
} as const;

export interface GlobalOptions {
  config: string;
  verbose: boolean;
}

/** Exit codes from the least to the most serious, for `run --workers N` (it exits with the worst). */
const SEVERITY: readonly number[] = [EXIT.ok, EXIT.partial, EXIT.busy, EXIT.incomplete, EXIT.session, EXIT.error, EXIT.usage];

/** The most serious of several exit codes; an unknown one counts as a failure (1). */
export function worstExitCode(codes: readonly number[]): number {
  const rank = (code: number) => (SEVERITY.includes(code) ? SEVERITY.indexOf(code) : SEVERITY.indexOf(EXIT.error));
  return codes.reduce((worst, code) => (rank(code) > rank(worst) ? (SEVERITY.includes(code) ? code : EXIT.error) : worst), EXIT.ok as number);
}
