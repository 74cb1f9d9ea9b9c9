/**
 * Structured logs: one JSON object per line on standard output,
 *
 *   {"level":"info","msg":"ready","grpc":"127.0.0.1:50051",…,"time":"2026-01-19T08:30:00.000Z"}
 *
 * `level` and `msg` first (easy to grep), then the record's fields, then `time`. Fields
 * whose names suggest a secret (key, token, password, secret, authorization) are written
 * as "[redacted]"; errors become {code, message, stack}.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, unknown>;

const SECRET_NAME = /(secret|token|password|passwd|api[_-]?key|authorization|credential)/i;

/** Where lines go: standard output by default (synchronous for files and pipes on POSIX). */
export type LineSink = (line: string) => void;

const stdoutSink: LineSink = (line) => {
  process.stdout.write(line);
};

export class Logger {
  private readonly threshold: number;

  constructor(
    readonly level: LogLevel = 'info',
    private readonly sink: LineSink = stdoutSink,
    private readonly base: LogFields = {},
  ) {
    this.threshold = LOG_LEVELS.indexOf(level);
  }

  /** A logger that adds `fields` to every record. */
  child(fields: LogFields): Logger {
    return new Logger(this.level, this.sink, { ...this.base, ...fields });
  }

  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.threshold;
  }

  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }

  private write(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    if (!this.enabled(level)) return;
    const record: LogFields = { level, msg };
    for (const source of [this.base, fields]) {
      if (source === undefined) continue;
      for (const [key, value] of Object.entries(source)) {
        if (key === 'level' || key === 'msg' || key === 'time' || value === undefined) continue;
        record[key] = SECRET_NAME.test(key) ? '[redacted]' : plain(value);
      }
    }
    record.time = new Date().toISOString();
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch {
      line = JSON.stringify({ level, msg, note: 'fields could not be serialised', time: record.time });
    }
    this.sink(line + '\n');
  }
}

/** Values that JSON.stringify would mangle, made plain. */
function plain(value: unknown): unknown {
  if (value instanceof Error) {
    const out: LogFields = { message: value.message };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (value.stack !== undefined) out.stack = value.stack;
    if (value.cause !== undefined) out.cause = plain(value.cause);
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** A logger that writes nothing (tests, tools). */
export const silentLogger = new Logger('error', () => undefined);
