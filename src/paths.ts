/**
 * Where the package's own files are (config/, proto/), found the same way whether this
 * code runs compiled from dist/src or as TypeScript from src (tests).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

let cached: string | undefined;

/** The directory holding event-spine's package.json. */
export function packageRoot(): string {
  if (cached !== undefined) return cached;
  let dir = __dirname;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const name = (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name;
      if (name === 'event-spine') return (cached = dir);
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`event-spine: no package.json of event-spine above ${__dirname}`);
    dir = parent;
  }
}

/** The package's version, for logs and metrics. */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
  return typeof manifest.version === 'string' ? manifest.version : '0.0.0';
}
