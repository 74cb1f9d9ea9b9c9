/**
 * The daemon's configuration: one schema (schema.ts) is the single source of defaults,
 * types, documentation and validation; loadConfig reads the sources in order and returns
 * a frozen Config.
 */
export { SCHEMA, envName, settings, type Config, type SettingEntry } from './schema';
export { CONFIG_ENV, CONFIG_FLAG, FLAGS, defaultConfigFile, loadConfig, type LoadOptions, type LoadedConfig, type Source } from './load';
export { defaultsJson, flagsHelp, jsonSchema, settingsTable } from './docs';
export { editDistance, nearest } from './nearest';
