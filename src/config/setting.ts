/**
 * One configuration setting: its default, its documentation, how a value is checked, and
 * how text from the environment or the command line becomes a value. The schema
 * (schema.ts) is built from these and nothing else knows a default or a rule.
 */

/** A setting's value checked: the value, or why it is not acceptable ("must be …"). */
export type Checked<T> = { ok: true; value: T } | { ok: false; rule: string };

export interface Setting<T> {
  readonly kind: 'setting';
  readonly default: T;
  /** One or two sentences for the README, default.json's schema and `--help`. */
  readonly doc: string;
  /** What is allowed, for messages and the docs ("an integer from 0 to 65535"). */
  readonly allowed: string;
  /** A command-line flag for this setting, where it has one (`--grpc-port`). */
  readonly flag?: string;
  /** The JSON Schema fragment for this setting (type, bounds, enum). */
  readonly jsonSchema: Record<string, unknown>;
  /** Checks a value from a JSON config file. */
  check(value: unknown): Checked<T>;
  /** Turns the text of an environment variable or a flag into a value, and checks it. */
  parse(text: string): Checked<T>;
}

interface Common<T> {
  default: T;
  doc: string;
  flag?: string;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
}

export { describe as describeValue };

/** A string of `minLength`..`maxLength` characters with no control characters. */
export function text(options: Common<string> & { minLength?: number; maxLength?: number }): Setting<string> {
  const min = options.minLength ?? 1;
  const max = options.maxLength ?? 4096;
  const allowed = min > 0 ? `a non-empty string of at most ${max} characters` : `a string of at most ${max} characters`;
  const check = (value: unknown): Checked<string> => {
    // eslint-disable-next-line no-control-regex
    if (typeof value !== 'string' || value.length < min || value.length > max || /[\u0000-\u001f\u007f]/.test(value)) {
      return { ok: false, rule: `must be ${allowed}` };
    }
    return { ok: true, value };
  };
  return {
    kind: 'setting',
    default: options.default,
    doc: options.doc,
    allowed,
    ...(options.flag === undefined ? {} : { flag: options.flag }),
    jsonSchema: { type: 'string', minLength: min, maxLength: max },
    check,
    parse: check,
  };
}

/** An integer in [min, max]. From text: decimal digits only (no "1e3", no "0x10", no "12abc"). */
export function integer(options: Common<number> & { min: number; max: number; unit?: string }): Setting<number> {
  const unit = options.unit === undefined ? '' : ` (${options.unit})`;
  const allowed = `an integer from ${options.min} to ${options.max}${unit}`;
  const check = (value: unknown): Checked<number> => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < options.min || value > options.max) {
      return { ok: false, rule: `must be ${allowed}` };
    }
    return { ok: true, value };
  };
  return {
    kind: 'setting',
    default: options.default,
    doc: options.doc,
    allowed,
    ...(options.flag === undefined ? {} : { flag: options.flag }),
    jsonSchema: { type: 'integer', minimum: options.min, maximum: options.max },
    check,
    parse: (s) => (/^\d{1,15}$/.test(s.trim()) ? check(Number(s.trim())) : { ok: false, rule: `must be ${allowed}` }),
  };
}

/** One of a fixed list of strings. */
export function oneOf<const V extends string>(values: readonly V[], options: Common<V>): Setting<V> {
  const allowed = `one of ${values.map((v) => `"${v}"`).join(', ')}`;
  const check = (value: unknown): Checked<V> =>
    typeof value === 'string' && (values as readonly string[]).includes(value) ? { ok: true, value: value as V } : { ok: false, rule: `must be ${allowed}` };
  return {
    kind: 'setting',
    default: options.default,
    doc: options.doc,
    allowed,
    ...(options.flag === undefined ? {} : { flag: options.flag }),
    jsonSchema: { type: 'string', enum: [...values] },
    check,
    parse: check,
  };
}

/** true or false. From text: "true" or "false" only. */
export function boolean(options: Common<boolean>): Setting<boolean> {
  const allowed = 'true or false';
  const check = (value: unknown): Checked<boolean> => (typeof value === 'boolean' ? { ok: true, value } : { ok: false, rule: `must be ${allowed}` });
  return {
    kind: 'setting',
    default: options.default,
    doc: options.doc,
    allowed,
    ...(options.flag === undefined ? {} : { flag: options.flag }),
    jsonSchema: { type: 'boolean' },
    check,
    parse: (s) => (s.trim() === 'true' ? { ok: true, value: true } : s.trim() === 'false' ? { ok: true, value: false } : { ok: false, rule: `must be ${allowed}` }),
  };
}
