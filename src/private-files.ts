import { createWriteStream, type WriteStream } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';

/**
 * Files that hold personal data (addresses, names, working unsubscribe and preference links)
 * are readable by their owner only, whatever the umask: created 0600 in folders created 0700.
 * A file that already exists is tightened too (writeFile's mode applies only on creation).
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

export async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** Writes (or replaces) a file that only its owner may read. */
export async function writePrivateFile(path: string, data: string | Uint8Array): Promise<void> {
  await writeFile(path, data, { mode: PRIVATE_FILE_MODE });
  await chmod(path, PRIVATE_FILE_MODE);
}

/**
 * A write stream to a new or truncated private file (exports): opened 0600, and an existing
 * file is tightened before anything is written to it.
 */
export async function privateWriteStream(path: string): Promise<WriteStream> {
  const stream = createWriteStream(path, { mode: PRIVATE_FILE_MODE });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  await chmod(path, PRIVATE_FILE_MODE);
  return stream;
}
