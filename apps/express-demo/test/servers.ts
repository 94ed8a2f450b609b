/** Where the browser test finds Chromium (imported by vitest.config.ts too: no package imports). */
import { existsSync } from 'node:fs';

/** Debian's Chromium (`apt-get install chromium`), or `CHROMIUM_PATH`; undefined when there is none. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
}
