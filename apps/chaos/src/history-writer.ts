/**
 * Appends NDJSON lines to a history file with one synchronous write each, so every line written
 * before a SIGKILL is in the file after it.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

/** An open history file. */
export interface HistoryWriter {
  /** Writes one line (the object as JSON); never throws after a close. */
  line(record: object): void;
  close(): void;
}

/** Opens (creating or appending to) `path`. */
export function openHistory(path: string): HistoryWriter {
  let fd: number | undefined = openSync(path, 'a');
  return {
    line(record) {
      if (fd === undefined) return;
      writeSync(fd, `${JSON.stringify(record)}\n`);
    },
    close() {
      if (fd === undefined) return;
      closeSync(fd);
      fd = undefined;
    },
  };
}
