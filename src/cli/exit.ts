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
