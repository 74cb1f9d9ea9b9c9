/**
 * What is derived from the schema for people and editors: config/default.json (every
 * setting at its default), config/schema.json (JSON Schema with each setting's
 * documentation, for editors), the README's settings table and the flags of `--help`.
 */
import { isSetting, settings, SCHEMA, type SchemaTree } from './schema';

/** config/default.json: every setting at its default, pointing editors at schema.json. */
export function defaultsJson(): string {
  const build = (tree: SchemaTree): Record<string, unknown> =>
    Object.fromEntries(Object.entries(tree).map(([k, node]) => [k, isSetting(node) ? node.default : build(node)]));
  return JSON.stringify({ $schema: './schema.json', ...build(SCHEMA as unknown as SchemaTree) }, null, 2) + '\n';
}

/** config/schema.json: JSON Schema (draft 2020-12) of a config file. */
export function jsonSchema(): string {
  const build = (tree: SchemaTree, prefix: string): Record<string, unknown> => ({
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries(
      Object.entries(tree).map(([k, node]) => {
        const path = prefix + k;
        if (!isSetting(node)) return [k, build(node, path + '.')];
        const env = settings().find((e) => e.path === path)?.env;
        const where = [`environment ${env}`, ...(node.flag === undefined ? [] : [`flag ${node.flag}`])].join(', ');
        return [k, { ...node.jsonSchema, default: node.default, description: `${node.doc} (${where})` }];
      }),
    ),
  });
  const root = build(SCHEMA as unknown as SchemaTree, '');
  (root.properties as Record<string, unknown>).$schema = { type: 'string', description: 'Editors: the JSON Schema of this file.' };
  return JSON.stringify({ $schema: 'https://json-schema.org/draft/2020-12/schema', title: 'event-spine configuration', ...root }, null, 2) + '\n';
}

/** The README's settings table (Markdown). */
export function settingsTable(): string {
  const rows = settings().map((e) => {
    const flag = e.setting.flag === undefined ? '' : `\`${e.setting.flag}\``;
    return `| \`${e.path}\` | \`${JSON.stringify(e.setting.default)}\` | \`${e.env}\` | ${flag} | ${e.setting.doc} Allowed: ${e.setting.allowed}. |`;
  });
  return ['| setting | default | environment | flag | meaning |', '|---|---|---|---|---|', ...rows].join('\n') + '\n';
}

/** The flags section of `event-spine --help`. */
export function flagsHelp(): string {
  const lines = ['  --config FILE              a JSON config file (also EVENT_SPINE_CONFIG)'];
  for (const e of settings()) {
    if (e.setting.flag === undefined) continue;
    const kind = e.setting.jsonSchema;
    const placeholder = Array.isArray(kind.enum) ? (kind.enum as string[]).join('|') : kind.type === 'integer' ? 'N' : e.path === 'dataDir' ? 'DIR' : e.path === 'host' ? 'ADDR' : 'TEXT';
    const arg = `${e.setting.flag} ${placeholder}`;
    lines.push(`  ${arg.padEnd(26)} ${e.path}: ${e.setting.allowed} (default ${JSON.stringify(e.setting.default)})`);
  }
  return lines.join('\n') + '\n';
}
