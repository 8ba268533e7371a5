import { ConfigError } from '../errors.js';

/**
 * Used only when the transport is the local outbox and no secret is set, so `npm start`
 * works out of the box. Links signed with it are worthless: anyone can read this line.
 */
export const DEVELOPMENT_SECRET = 'digest-mailer-DEVELOPMENT-ONLY-secret-do-not-use-for-real-mail';

export interface SecretSource {
  secret: string;
  development: boolean;
}

export function resolveSecret(
  env: NodeJS.ProcessEnv,
  variable: string,
  allowDevelopment: boolean,
): SecretSource {
  const value = env[variable];
  if (value) {
    if (value.length < 32) {
      throw new ConfigError(
        `the token secret in ${variable} is ${value.length} characters long; it must have at least 32`,
        `Generate one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`,
      );
    }
    return { secret: value, development: false };
  }
  if (allowDevelopment) return { secret: DEVELOPMENT_SECRET, development: true };
  throw new ConfigError(
    `the environment variable ${variable} (tokens.secretEnv) is not set; it signs the unsubscribe and preference links`,
    `Set it to a random secret of 32+ characters, e.g. export ${variable}=$(node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))")`,
  );
}
