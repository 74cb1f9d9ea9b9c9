/**
 * Everything derived from the schema stays in step with it: config/default.json,
 * config/schema.json and the README's settings table (UPDATE_README=1 rewrites the table;
 * `node bin/event-spine.js config --defaults > config/default.json` and `--schema` the files).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { defaultsJson, jsonSchema, loadConfig, settings, settingsTable } from '../../src/config';
import { REPO_ROOT } from '../helpers/daemon';
import { generatedSection, writeGeneratedSection } from '../helpers/readme';

t.test('config/default.json holds every setting at its schema default', async (t) => {
  t.equal(readFileSync(join(REPO_ROOT, 'config', 'default.json'), 'utf8'), defaultsJson());
  const fromFile = loadConfig({ env: {}, argv: [] });
  const fromSchema = loadConfig({ env: {}, argv: [], defaultFile: '/nonexistent/default.json' });
  t.same(fromFile.config, fromSchema.config);
  t.ok(Object.values(fromFile.sources).every((s) => s === 'default.json'), 'every setting is in default.json');
});

t.test('config/schema.json describes every setting', async (t) => {
  const text = readFileSync(join(REPO_ROOT, 'config', 'schema.json'), 'utf8');
  t.equal(text, jsonSchema());
  for (const e of settings()) t.match(text, e.env, `${e.path} documented with its variable`);
});

t.test("the README's settings table", async (t) => {
  if (process.env.UPDATE_README === '1') writeGeneratedSection('settings', settingsTable());
  const section = generatedSection('settings') ?? '';
  t.equal(section, settingsTable(), 'as generated from the schema (UPDATE_README=1 to rewrite)');
  for (const e of settings()) t.match(section, `\`${e.path}\``);
});
