/**
 * Column types as the rules understand them. Database type names vary (`int8`,
 * `character varying(64)`, `TIMESTAMP_NTZ(9)`): each is reduced to what its values are.
 * A name that is not recognised cannot be checked safely, so its table gets
 * `recommend_error` rather than guessed checks.
 */

/** What a column's values are. `opaque`: known, but only nullability and keys are checked. */
export type ValueKind = 'integer' | 'number' | 'string' | 'boolean' | 'date' | 'timestamp' | 'opaque';

const NAMES: Record<Exclude<ValueKind, never>, readonly string[]> = {
  integer: ['int', 'integer', 'int2', 'int4', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'smallint', 'bigint', 'tinyint', 'mediumint', 'serial', 'smallserial', 'bigserial', 'long', 'short', 'byte'],
  number: ['numeric', 'decimal', 'number', 'float', 'float4', 'float8', 'float32', 'float64', 'double', 'double precision', 'real', 'money', 'smallmoney', 'bignumeric'],
  string: ['string', 'text', 'varchar', 'varchar2', 'nvarchar', 'nvarchar2', 'char', 'nchar', 'character', 'character varying', 'bpchar', 'citext', 'uuid', 'uniqueidentifier', 'enum', 'clob', 'nclob', 'tinytext', 'mediumtext', 'longtext'],
  boolean: ['bool', 'boolean', 'bit'],
  date: ['date'],
  timestamp: ['timestamp', 'timestamptz', 'datetime', 'datetime2', 'smalldatetime', 'datetimeoffset', 'timestamp with time zone', 'timestamp without time zone', 'timestamp_ntz', 'timestamp_ltz', 'timestamp_tz'],
  opaque: ['json', 'jsonb', 'xml', 'bytea', 'blob', 'binary', 'varbinary', 'bytes', 'array', 'object', 'variant', 'struct', 'map', 'record', 'geometry', 'geography', 'interval', 'time', 'timetz', 'inet', 'cidr'],
};

const BY_NAME = new Map<string, ValueKind>();
for (const [kind, names] of Object.entries(NAMES) as [ValueKind, readonly string[]][]) for (const n of names) BY_NAME.set(n, kind);

/** The kind of a column type name, or undefined when it is not one the rules know. */
export function interpretType(type: string): ValueKind | undefined {
  let t = type.trim().toLowerCase().replace(/\s+/g, ' ');
  if (t.endsWith('[]') || /^(array|list)\s*</.test(t)) return 'opaque';
  t = t.replace(/\s*\(.*\)\s*/, ' ').trim(); // varchar(64), numeric(10, 2), timestamp(3) with time zone
  t = t.replace(/ unsigned$/, '');
  return BY_NAME.get(t);
}

/** A few known names, for the message of an unknown one. */
export const KNOWN_TYPES_HINT = 'integer, bigint, numeric, double, text, varchar, uuid, boolean, date, timestamp, timestamptz, json, bytea';
