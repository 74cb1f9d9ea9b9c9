/**
 * Reading a Server-Sent Events response with node's fetch, message by message, as the
 * WHATWG parsing rules say (https://html.spec.whatwg.org/multipage/server-sent-events.html):
 * fields `event`, `id`, `data` (lines joined by \n), comments and `retry` skipped.
 */

export interface SseMessage {
  event: string;
  id: string | undefined;
  data: string;
}

export async function* sseMessages(response: Response): AsyncGenerator<SseMessage> {
  if (response.body === null) return;
  const decoder = new TextDecoder();
  let buffer = '';
  let message: { event?: string; id?: string; data: string[] } = { data: [] };
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        if (message.data.length > 0) yield { event: message.event ?? 'message', id: message.id, data: message.data.join('\n') };
        message = { data: [] };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') message.event = value;
      else if (field === 'id') message.id = value;
      else if (field === 'data') message.data.push(value);
    }
  }
}

/** Every message until the stream ends. */
export async function allMessages(response: Response): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for await (const m of sseMessages(response)) out.push(m);
  return out;
}
