/**
 * `event-spine keys`: makes entries of the keys file (the format is at the top of keys.ts).
 *
 *   keys new --id ID --scopes append,read [--organizations a,b] [--actor-id X] [--actor-type T]
 *            [--rate-limit-per-second N] [--max-streams N]
 *       a new random secret on the first line of standard output (shown this once, kept
 *       nowhere), then the entry for the keys file on the second: its hash, never the secret
 *   keys hash [the same flags]
 *       the hash of a secret read from standard input, as an entry ({"hash": …} alone
 *       without flags), for a secret made elsewhere
 *
 * Every entry is checked by the same rules as the keys file (parseKeys), with the errors
 * naming the flag; they are CONFIG_INVALID, so the command line exits with 2.
 */
import { nearest } from '../config';
import { SpineError, isSpineError } from '../errors';
import { hashSecret, newSecret, parseKeys } from './keys';

export interface KeysCommandIo {
  /** Standard output: the secret and the entry. */
  out(text: string): void;
  /** Standard error: what to do next. */
  err(text: string): void;
  /** Standard input, whole (keys hash). */
  readInput(): Promise<string>;
}

/** The flags and the keys file field each one sets. */
const FLAGS = {
  '--id': 'id',
  '--scopes': 'scopes',
  '--organizations': 'organizations',
  '--actor-id': 'actor_id',
  '--actor-type': 'actor_type',
  '--rate-limit-per-second': 'rate_limit_per_second',
  '--max-streams': 'max_streams',
} as const;
type Flag = keyof typeof FLAGS;
const FLAG_NAMES = Object.keys(FLAGS) as Flag[];
const LIST_FIELDS = new Set(['scopes', 'organizations']);
const COUNT_FIELDS = new Set(['rate_limit_per_second', 'max_streams']);

/** Secrets shorter than this are refused by `keys hash`: a plain SHA-256 protects only a secret that cannot be guessed. */
export const MIN_SECRET_LENGTH = 32;

export const KEYS_USAGE = `usage: event-spine keys new --id ID --scopes SCOPES [--organizations ORGS] [--actor-id ACTOR]
                            [--actor-type TYPE] [--rate-limit-per-second N] [--max-streams N]
       event-spine keys hash [the same flags] < secret-file

  new    a new random secret (first line of standard output, shown once, stored nowhere)
         and the keys file entry for it (second line: its SHA-256, never the secret)
  hash   the keys file entry of a secret read from standard input

  SCOPES and ORGS are comma-separated: --scopes append,read  --organizations acme,globex
  Add the entry to the "keys" list of the keys file (auth.keysFile); send the daemon SIGHUP.
`;

function usageError(message: string, flag?: string): SpineError {
  return new SpineError('CONFIG_INVALID', `keys: ${message}`, flag === undefined ? {} : { field: flag.replace(/^--/, '') });
}

/** `--flag value` and `--flag=value`; each flag at most once. */
function parseFlags(argv: readonly string[]): Map<Flag, string> {
  const values = new Map<Flag, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (!name.startsWith('--')) throw usageError(`unexpected argument ${JSON.stringify(arg)}; every value follows its flag (see event-spine keys --help)`);
    if (!(FLAG_NAMES as string[]).includes(name)) {
      const hint = nearest(name, FLAG_NAMES);
      throw usageError(`unknown flag ${name}${hint === undefined ? '' : `; did you mean ${hint}?`} (flags: ${FLAG_NAMES.join(', ')})`, name);
    }
    const flag = name as Flag;
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i += 1;
    }
    if (value === undefined || value.startsWith('--')) throw usageError(`${flag} needs a value`, flag);
    if (values.has(flag)) throw usageError(`${flag} is given twice`, flag);
    values.set(flag, value);
  }
  return values;
}

/** The flag that sets a field of `keys[0]` (`keys[0].organizations[1]` → --organizations). */
function flagOf(field: string | undefined): Flag | undefined {
  const name = /^keys\[0\]\.([a-z_]+)/.exec(field ?? '')?.[1];
  return FLAG_NAMES.find((f) => FLAGS[f] === name);
}

/**
 * The keys file entry of the flags and a hash, checked as the daemon checks its keys file.
 * The entry's fields are in the order of the file format.
 */
export function keyEntry(flags: Map<Flag, string>, hash: string): Record<string, unknown> {
  for (const required of ['--id', '--scopes'] as const) {
    if (!flags.has(required)) throw usageError(`${required} is required (e.g. keys new --id billing-ingest --scopes append,read)`, required);
  }
  const entry: Record<string, unknown> = {};
  for (const flag of FLAG_NAMES) {
    const value = flags.get(flag);
    const field = FLAGS[flag];
    if (field === 'scopes') entry.hash = hash;
    if (value === undefined) continue;
    if (LIST_FIELDS.has(field)) {
      entry[field] = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    } else if (COUNT_FIELDS.has(field)) {
      if (!/^[0-9]+$/.test(value)) throw usageError(`${flag} must be a whole number, not ${JSON.stringify(value)}`, flag);
      entry[field] = Number(value);
    } else {
      entry[field] = value;
    }
  }
  const label = 'entry';
  try {
    parseKeys(JSON.stringify({ keys: [entry] }), label);
  } catch (err) {
    if (!isSpineError(err) || err.field === undefined) throw err;
    const flag = flagOf(err.field);
    const prefix = `keys file ${label}: ${err.field} `;
    const reason = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    throw usageError(`${flag ?? err.field} ${reason}`, flag);
  }
  return entry;
}

/** The secret of standard input: one line of printable characters, long enough not to be guessed. */
export function secretOfInput(text: string): string {
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') throw usageError('keys hash reads the secret from standard input, and it was empty (e.g. keys hash --id ID --scopes read < secret-file)');
  if (!/^[\x21-\x7e]+$/.test(secret)) throw usageError('the secret must be one line of printable ASCII without spaces (it travels in an "authorization: Bearer" header)');
  if (secret.length < MIN_SECRET_LENGTH) {
    throw usageError(`the secret is ${secret.length} characters, under ${MIN_SECRET_LENGTH}: the keys file keeps a plain SHA-256, which protects only a secret that cannot be guessed; make one with keys new`);
  }
  return secret;
}

/** `event-spine keys …`: resolves with the exit code (usage errors throw CONFIG_INVALID). */
export async function keysCommand(argv: readonly string[], io: KeysCommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'new': {
      const flags = parseFlags(rest);
      const secret = newSecret();
      const entry = keyEntry(flags, hashSecret(secret));
      io.out(`${secret}\n${JSON.stringify(entry)}\n`);
      io.err(`keys new: the first line is the secret of key ${String(entry.id)}. It is shown this once and stored nowhere: hand it to the caller now.\nAdd the second line to the "keys" list of the keys file (auth.keysFile) and send the daemon SIGHUP.\n`);
      return 0;
    }
    case 'hash': {
      const flags = parseFlags(rest);
      const hash = hashSecret(secretOfInput(await io.readInput()));
      io.out(`${JSON.stringify(flags.size === 0 ? { hash } : keyEntry(flags, hash))}\n`);
      return 0;
    }
    case undefined:
      throw usageError('which one: keys new or keys hash? (event-spine keys --help)');
    case 'help':
    case '--help':
    case '-h':
      io.out(KEYS_USAGE);
      return 0;
    default:
      throw usageError(`unknown keys command ${JSON.stringify(sub)}; it is keys new or keys hash`);
  }
}
