/**
 * Loading the configuration, once, at start-up. Sources, each overriding the one before:
 *
 *   1. the schema's defaults, then config/default.json (shipped with the package);
 *   2. a JSON file named by `--config FILE` or EVENT_SPINE_CONFIG;
 *   3. environment variables EVENT_SPINE_<PATH> (e.g. EVENT_SPINE_GRPC_PORT,
 *      EVENT_SPINE_LIMITS_MAX_PAYLOAD_BYTES);
 *   4. command-line flags (--data-dir, --host, --grpc-port, --http-port, …).
 *
 * Unknown keys, variables and flags are refused naming the nearest valid one; invalid
 * values name the setting, where the value came from and what is allowed. The result is
 * deeply frozen. This is the only module that reads process.env.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SpineError } from '../errors';
import { packageRoot } from '../paths';
import { nearest } from './nearest';
import { describeValue } from './setting';
import { SCHEMA, groups, isSetting, settings, type Config, type SchemaTree, type SettingEntry } from './schema';

/** The variable naming a config file (the `--config` flag wins over it). */
export const CONFIG_ENV = 'EVENT_SPINE_CONFIG';
export const CONFIG_FLAG = '--config';

export type Source = 'default' | 'default.json' | 'file' | 'env' | 'flag';

export interface LoadOptions {
  /** Command-line flags (after the command name). */
  argv?: readonly string[];
  /** The environment; process.env by default. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The shipped defaults file; <package>/config/default.json by default. */
  defaultFile?: string;
}

export interface LoadedConfig {
  config: Config;
  /** Where each setting's value came from, by dotted path. */
  sources: Readonly<Record<string, Source>>;
  /** The config file read (step 2), if any. */
  configFile: string | undefined;
}

const ENTRIES = settings();
const BY_PATH = new Map(ENTRIES.map((e) => [e.path, e]));
const BY_ENV = new Map(ENTRIES.map((e) => [e.env, e]));
const BY_FLAG = new Map(ENTRIES.filter((e) => e.setting.flag !== undefined).map((e) => [e.setting.flag as string, e]));
const KEY_NAMES = [...ENTRIES.map((e) => e.path), ...groups()];

/** Every flag `serve` accepts. */
export const FLAGS: readonly string[] = [CONFIG_FLAG, ...BY_FLAG.keys()];

function invalid(message: string, field?: string): SpineError {
  return new SpineError('CONFIG_INVALID', message, field === undefined ? {} : { field });
}

function didYouMean(name: string, candidates: readonly string[], quote = (s: string) => `"${s}"`): string {
  const best = nearest(name, candidates);
  return best === undefined ? '' : `; did you mean ${quote(best)}?`;
}

/** The path of the config file in default.json's folder, for the shipped defaults. */
export function defaultConfigFile(): string {
  return join(packageRoot(), 'config', 'default.json');
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  // The one read of process.env in the code base.
  const env = options.env ?? process.env;
  const values = new Map<string, unknown>(ENTRIES.map((e) => [e.path, e.setting.default]));
  const sources: Record<string, Source> = Object.fromEntries(ENTRIES.map((e) => [e.path, 'default' as Source]));

  const flags = parseFlags(options.argv ?? []);

  const defaultFile = options.defaultFile ?? defaultConfigFile();
  if (existsSync(defaultFile)) applyFile(defaultFile, 'default.json', values, sources);

  const configFlag = flags.get(CONFIG_FLAG);
  const configFile = configFlag ?? nonEmpty(env[CONFIG_ENV]);
  if (configFile !== undefined) {
    const from = configFlag !== undefined ? `${CONFIG_FLAG} ${configFile}` : `${CONFIG_ENV}=${configFile}`;
    if (!existsSync(configFile)) throw invalid(`config file ${configFile} (from ${from}) does not exist`);
    applyFile(configFile, 'file', values, sources);
  }

  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('EVENT_SPINE_') || name === CONFIG_ENV || text === undefined) continue;
    const entry = BY_ENV.get(name);
    if (entry === undefined) {
      throw invalid(`unknown environment variable ${name}${didYouMean(name, [CONFIG_ENV, ...BY_ENV.keys()], (s) => s)}`);
    }
    set(entry, entry.setting.parse(text), text, `environment ${name}`, 'env', values, sources);
  }

  for (const [flag, text] of flags) {
    if (flag === CONFIG_FLAG) continue;
    const entry = BY_FLAG.get(flag) as SettingEntry;
    set(entry, entry.setting.parse(text), text, `flag ${flag}`, 'flag', values, sources);
  }

  const config = build(values);
  checkTogether(config);
  return { config: deepFreeze(config), sources: Object.freeze(sources), configFile: configFile === undefined ? undefined : resolve(configFile) };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

/** `--flag value` and `--flag=value`; the last of a repeated flag wins. */
function parseFlags(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) throw invalid(`unexpected argument ${JSON.stringify(arg)}; flags are ${FLAGS.join(', ')}`);
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    if (!FLAGS.includes(flag)) throw invalid(`unknown flag ${flag}${didYouMean(flag, FLAGS, (s) => s)}`);
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw invalid(`flag ${flag} needs a value`);
      i += 1;
    }
    out.set(flag, value);
  }
  return out;
}

function applyFile(file: string, source: Source, values: Map<string, unknown>, sources: Record<string, Source>): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(`config file ${file} cannot be read: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalid(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(json)) throw invalid(`config file ${file} must hold a JSON object of settings`);
  walkFile(json, SCHEMA as unknown as SchemaTree, '', file, source, values, sources);
}

function walkFile(
  obj: Record<string, unknown>,
  tree: SchemaTree,
  prefix: string,
  file: string,
  source: Source,
  values: Map<string, unknown>,
  sources: Record<string, Source>,
): void {
  for (const [key, value] of Object.entries(obj)) {
    if (prefix === '' && key === '$schema') continue; // editors' hint, see config/schema.json
    const path = prefix + key;
    const node = Object.prototype.hasOwnProperty.call(tree, key) ? tree[key] : undefined;
    if (node === undefined) throw invalid(`config file ${file}: unknown setting "${path}"${didYouMean(path, KEY_NAMES)}`, path);
    if (isSetting(node)) {
      set(BY_PATH.get(path) as SettingEntry, node.check(value), value, `config file ${file}`, source, values, sources);
    } else if (!isObject(value)) {
      throw invalid(`config file ${file}: "${path}" must be an object of settings (${Object.keys(node).join(', ')})`, path);
    } else {
      walkFile(value, node, path + '.', file, source, values, sources);
    }
  }
}

function set(
  entry: SettingEntry,
  checked: { ok: true; value: unknown } | { ok: false; rule: string },
  given: unknown,
  from: string,
  source: Source,
  values: Map<string, unknown>,
  sources: Record<string, Source>,
): void {
  if (!checked.ok) throw invalid(`${from}: ${entry.path} ${checked.rule}, not ${describeValue(given)}`, entry.path);
  values.set(entry.path, checked.value);
  sources[entry.path] = source;
}

/** Rules between settings. */
function checkTogether(c: Config): void {
  if (c.grpcPort !== 0 && c.grpcPort === c.httpPort) {
    throw invalid(`grpcPort and httpPort are both ${c.grpcPort}; the two servers need different ports`, 'httpPort');
  }
  if (c.limits.maxMessageBytes <= c.limits.maxPayloadBytes) {
    throw invalid(`limits.maxMessageBytes (${c.limits.maxMessageBytes}) must be larger than limits.maxPayloadBytes (${c.limits.maxPayloadBytes}): one event must fit in a message`, 'limits.maxMessageBytes');
  }
  if (c.limits.maxHttpBodyBytes <= c.limits.maxPayloadBytes) {
    throw invalid(`limits.maxHttpBodyBytes (${c.limits.maxHttpBodyBytes}) must be larger than limits.maxPayloadBytes (${c.limits.maxPayloadBytes}): one event must fit in a body`, 'limits.maxHttpBodyBytes');
  }
  const tls = c.tls;
  if ((tls.certFile === '') !== (tls.keyFile === '')) {
    throw invalid(`tls.certFile and tls.keyFile go together: ${tls.certFile === '' ? 'tls.keyFile is set without tls.certFile' : 'tls.certFile is set without tls.keyFile'}`, tls.certFile === '' ? 'tls.certFile' : 'tls.keyFile');
  }
  if (tls.clientCaFile !== '' && tls.certFile === '') {
    throw invalid('tls.clientCaFile (mutual TLS) needs tls.certFile and tls.keyFile: client certificates are checked only over TLS', 'tls.clientCaFile');
  }
  if (c.auth.mode === 'keys' && c.auth.keysFile === '') {
    throw invalid('auth.mode is "keys" but auth.keysFile is empty: name the API keys file (make an entry with `event-spine keys new`)', 'auth.keysFile');
  }
}

function build(values: Map<string, unknown>): Config {
  const root: Record<string, unknown> = {};
  for (const [path, value] of values) {
    const parts = path.split('.');
    let node = root;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1] as string] = value;
  }
  return root as unknown as Config;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(value: T): T {
  if (isObject(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
