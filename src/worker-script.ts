/**
 * Starting one of the package's worker threads, compiled, whether this code runs from
 * dist/src or as TypeScript from src (tests).
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { packageRoot } from './paths';

/**
 * The script of worker `name` that lives beside the module in `dir`. Running from the
 * TypeScript sources (tests), the compiled worker that `npm test` builds starts in
 * milliseconds; the .ts one needs the TypeScript loader and seconds.
 */
function workerScript(dir: string, name: string): string {
  const js = join(dir, `${name}.js`);
  if (existsSync(js)) return js;
  const root = packageRoot();
  const compiled = join(root, 'dist', 'src', relative(join(root, 'src'), dir), `${name}.js`);
  return existsSync(compiled) ? compiled : join(dir, `${name}.ts`);
}

/**
 * A worker inherits the parent's --import hooks (execArgv and NODE_OPTIONS). Under the test
 * runner those load a TypeScript compiler into every new thread, seconds per start; the
 * compiled worker needs none of them.
 */
export function startWorker(dir: string, name: string): Worker {
  const script = workerScript(dir, name);
  const options: WorkerOptions = script.endsWith('.js') && __filename.endsWith('.ts') ? { execArgv: [], env: { ...process.env, NODE_OPTIONS: '' } } : {};
  return new Worker(script, options);
}
