import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { EventEmitter } from 'node:events';

/**
 * Emits 'change' (debounced) when any watched file changes. Folders are watched rather than
 * files, because editors save by writing a new file and renaming it over the old one.
 */
export class ChangeWatcher extends EventEmitter {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(folders: string[], files: string[], debounceMs = 120) {
    super();
    const fire = (what: string) => {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.emit('change', what), debounceMs);
    };
    for (const folder of folders) {
      this.watchers.push(watch(folder, { recursive: true }, (_event, name) => fire(String(name ?? folder))));
    }
    const byDir = new Map<string, Set<string>>();
    for (const file of files) byDir.set(dirname(file), (byDir.get(dirname(file)) ?? new Set()).add(basename(file)));
    for (const [dir, names] of byDir) {
      this.watchers.push(
        watch(dir, (_event, name) => {
          if (name && names.has(String(name))) fire(String(name));
        }),
      );
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
  }
}
