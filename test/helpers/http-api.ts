/**
 * A real HTTP client (node's fetch) for the daemon's REST API that checks every JSON
 * response it receives against the OpenAPI document the daemon serves, with a real JSON
 * Schema validator (ajv, draft 2020-12, the dialect of OpenAPI 3.1):
 *
 *   const api = await httpApi(t, daemon.httpAddress);
 *   const r = await api.post('/api/events', event);      // r.status, r.json, r.headers
 *
 * A JSON response whose path, method or status the document does not describe fails the
 * test, as does one that does not match its schema.
 */
import type { Test } from 'tap';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

export type Json = Record<string, unknown>;

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body of a JSON response. */
  json: Json;
}

export interface RequestOptions {
  /** Sent as JSON (with Content-Type: application/json unless headers say otherwise). */
  body?: unknown;
  /** Sent as is. */
  raw?: string | Buffer;
  headers?: Record<string, string>;
}

export interface HttpApi {
  base: string;
  doc: Json;
  request(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>;
  get(path: string, headers?: Record<string, string>): Promise<ApiResponse>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** The validator of a documented response's JSON body (throws when it is not documented). */
  validator(path: string, method: string, status: number): ValidateFunction;
}

const pointer = (...parts: string[]): string => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** The documented path template for a concrete path (`/api/events/12` → `/api/events/{id}`). */
export function templateOf(doc: Json, path: string): string | undefined {
  const paths = Object.keys(doc.paths as Json);
  if (paths.includes(path)) return path;
  return paths.find((tpl) => new RegExp(`^${tpl.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path));
}

export async function httpApi(t: Test, httpAddress: string): Promise<HttpApi> {
  const base = `http://${httpAddress}`;
  const docResponse = await fetch(`${base}/api/openapi.json`);
  const doc = (await docResponse.json()) as Json;
  t.equal(doc.openapi, '3.1.0', 'the served document is OpenAPI 3.1');
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(doc, 'openapi');
  const cache = new Map<string, ValidateFunction>();

  const validator = (path: string, method: string, status: number): ValidateFunction => {
    const tpl = templateOf(doc, path);
    if (tpl === undefined) throw new Error(`the OpenAPI document has no path for ${path}`);
    const operation = (doc.paths as Record<string, Json>)[tpl]?.[method.toLowerCase()] as Json | undefined;
    if (operation === undefined) throw new Error(`the OpenAPI document has no ${method} ${tpl}`);
    const responses = operation.responses as Record<string, Json>;
    const key = String(status) in responses ? String(status) : 'default';
    let response = responses[key];
    if (response === undefined) throw new Error(`the OpenAPI document has no ${status} (nor default) response for ${method} ${tpl}`);
    let at = pointer('paths', tpl, method.toLowerCase(), 'responses', key);
    const refd = response.$ref;
    if (typeof refd === 'string') {
      const name = refd.replace('#/components/responses/', '');
      response = (doc.components as Record<string, Record<string, Json>>).responses?.[name] as Json;
      at = pointer('components', 'responses', name);
    }
    if ((response.content as Json | undefined)?.['application/json'] === undefined) throw new Error(`${method} ${tpl} ${key} has no application/json content`);
    const ref = `openapi#/${at}/content/application~1json/schema`;
    let v = cache.get(ref);
    if (v === undefined) {
      v = ajv.compile({ $ref: ref });
      cache.set(ref, v);
    }
    return v;
  };

  const request = async (method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    let body: string | Buffer | undefined = options.raw;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    }
    const res = await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    const out: ApiResponse = { status: res.status, headers: res.headers, text, json: {} };
    if ((res.headers.get('content-type') ?? '').startsWith('application/json') && method !== 'HEAD') {
      out.json = JSON.parse(text) as Json;
      const tpl = templateOf(doc, new URL(base + path).pathname);
      const operation = tpl === undefined ? undefined : (doc.paths as Record<string, Json>)[tpl]?.[method.toLowerCase()];
      // The router's own 404 (no such path) and 405 (a method the path has no route for)
      // are outside the document; every other response must be in it.
      const documented = tpl !== undefined && (operation !== undefined || res.status !== 405);
      if (documented || res.status < 400) {
        const v = validator(new URL(base + path).pathname, method, res.status);
        if (!v(out.json)) t.fail(`${method} ${path} → ${res.status} does not match the OpenAPI document: ${ajv.errorsText(v.errors)}`, { body: text.slice(0, 2000) });
      } else {
        // Outside the document, errors still have the Error schema.
        const v = ajv.compile({ $ref: 'openapi#/components/schemas/Error' });
        if (!v(out.json)) t.fail(`${method} ${path} → ${res.status} is not an Error body: ${ajv.errorsText(v.errors)}`);
      }
    }
    return out;
  };

  return {
    base,
    doc,
    request,
    get: (path, headers) => request('GET', path, headers === undefined ? {} : { headers }),
    post: (path, body, headers) => request('POST', path, { body, ...(headers === undefined ? {} : { headers }) }),
    validator,
  };
}

/** Every page of a paged endpoint, following nextCursor. */
export async function allPages(api: HttpApi, path: string, limit: number): Promise<{ pages: Json[][]; items: Json[] }> {
  const pages: Json[][] = [];
  let cursor: string | null = null;
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const r = await api.get(`${path}${sep}limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.text}`);
    pages.push(r.json.items as Json[]);
    cursor = r.json.nextCursor as string | null;
    if (cursor === null) break;
    if (pages.length > 10_000) throw new Error('too many pages');
  }
  return { pages, items: pages.flat() };
}

let counter = 0;
/** A valid event as JSON (payload: an object). */
export function jsonEvent(over: Json = {}): Json {
  counter += 1;
  return {
    event_type: 'hcm.employee.updated',
    entity_id: `emp-${counter % 7}`,
    entity_name: `Employee ${counter % 7}`,
    actor_id: `user-${counter % 3}`,
    payload: { field: 'department', old_value: 'd-1', new_value: 'd-2', n: counter },
    ...over,
  };
}
