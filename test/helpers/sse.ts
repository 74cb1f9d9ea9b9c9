/**
 * SSE test clients for GET /api/events/stream:
 *
 *   const f = follow(t, url, { lastEventId, headers });  // the real `eventsource` client (headers: e.g. authorization)
 *   await f.until(() => f.events.length >= 10, '10 events');
 *   f.events (parsed `event` data), f.ids (their ids), f.markers (caught_up / fell_behind), f.errors
 *
 *   const raw = await rawStream(url);           // the bytes on the wire, via fetch
 *   raw.abort(); await raw.ended; parseMessages(raw.text())
 *
 * (Reconstructed after an accidental overwrite: see the operations report.)
 */
import { EventSource } from 'eventsource';
import type { Test } from 'tap';

export type Json = Record<string, unknown>;

export interface Marker {
  type: 'caught_up' | 'fell_behind';
  seq: number;
}

export interface Follower {
  /** The data of every `event` message, parsed, in arrival order. */
  events: Json[];
  /** The ids of those messages. */
  ids: string[];
  markers: Marker[];
  /** 'error' events seen (a dropped connection, before EventSource reconnects). */
  errors: number;
  /** Resolves once `predicate` holds (checked on every message), rejects after `timeoutMs`. */
  until(predicate: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): void;
}

export function follow(t: Test, url: string, options: { lastEventId?: string; headers?: Record<string, string> } = {}): Follower {
  let first = true;
  const es = new EventSource(url, {
    fetch: (input, init) => {
      const headers = { ...(init?.headers as Record<string, string> | undefined), ...options.headers };
      if (first && options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
      first = false;
      return fetch(input, { ...init, headers });
    },
  });
  const waiters = new Set<() => void>();
  const poke = (): void => {
    for (const w of [...waiters]) w();
  };
  const f: Follower = {
    events: [],
    ids: [],
    markers: [],
    errors: 0,
    until(predicate, what, timeoutMs = 10_000) {
      if (predicate()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (!predicate()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${f.events.length} events, ${f.markers.length} markers, ${f.errors} errors)`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    close: () => es.close(),
  };
  es.addEventListener('event', (e) => {
    const m = e as MessageEvent;
    f.events.push(JSON.parse(String(m.data)) as Json);
    f.ids.push(m.lastEventId);
    poke();
  });
  for (const type of ['caught_up', 'fell_behind'] as const) {
    es.addEventListener(type, (e) => {
      f.markers.push({ type, seq: (JSON.parse(String((e as MessageEvent).data)) as { seq: number }).seq });
      poke();
    });
  }
  es.addEventListener('error', () => {
    f.errors += 1;
    poke();
  });
  t.teardown(() => es.close());
  return f;
}

export interface RawStream {
  status: number;
  headers: Headers;
  /** Everything received so far. */
  text(): string;
  abort(): void;
  /** Resolves when the body has ended (or the stream was aborted). */
  ended: Promise<void>;
}

export async function rawStream(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  let received = '';
  const decoder = new TextDecoder();
  const ended = (async () => {
    if (response.body === null) return;
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) received += decoder.decode(chunk, { stream: true });
    } catch {
      // aborted
    }
  })();
  return { status: response.status, headers: response.headers, text: () => received, abort: () => controller.abort(), ended };
}

/** The messages of an SSE text (comments and retry lines skipped). */
export function parseMessages(text: string): { id?: string; event: string; data: string }[] {
  const out: { id?: string; event: string; data: string }[] = [];
  for (const block of text.split(/\n\n/)) {
    let id: string | undefined;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) continue;
    out.push({ ...(id === undefined ? {} : { id }), event: event ?? 'message', data: data.join('\n') });
  }
  return out;
}
