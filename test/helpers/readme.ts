/**
 * The README's generated tables (errors, settings), kept between marker comments:
 *
 *   <!-- generated:errors:begin --> … <!-- generated:errors:end -->
 *
 * Tests compare them with what the code says; `UPDATE_README=1 npx tap test/…` rewrites them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_TABLE, GrpcStatus } from '../../src/errors';
import { REPO_ROOT } from './daemon';

export const README = join(REPO_ROOT, 'README.md');

const GRPC_NAMES = new Map<number, string>(Object.entries(GrpcStatus).map(([name, code]) => [code, name]));

/** The "Errors" table, one row per code of ERROR_TABLE. */
export function errorsTable(): string {
  const rows = Object.entries(ERROR_TABLE).map(([code, spec]) => `| \`${code}\` | ${GRPC_NAMES.get(spec.grpc) ?? spec.grpc} (${spec.grpc}) | ${spec.http} | ${spec.doc} |`);
  return ['| code | gRPC status | HTTP status | meaning |', '|---|---|---|---|', ...rows].join('\n') + '\n';
}

function markers(name: string): [string, string] {
  return [`<!-- generated:${name}:begin -->\n`, `<!-- generated:${name}:end -->`];
}

/** The text between a section's markers, or undefined when the README lacks them. */
export function generatedSection(name: string): string | undefined {
  const text = readFileSync(README, 'utf8');
  const [begin, end] = markers(name);
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  return i < 0 || j < i ? undefined : text.slice(i + begin.length, j);
}

/** Rewrites a section between its markers (they must exist). */
export function writeGeneratedSection(name: string, content: string): void {
  const text = readFileSync(README, 'utf8');
  const [begin, end] = markers(name);
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`README.md has no ${begin.trim()} … ${end} markers`);
  writeFileSync(README, text.slice(0, i + begin.length) + content + text.slice(j));
}
