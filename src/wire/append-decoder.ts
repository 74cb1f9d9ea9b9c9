/**
 * The append requests (AppendRequest, AppendStreamRequest) read from protobuf bytes by hand,
 * on the server's hot path: protobufjs's decode and toObject cost ~1 µs an event and made a
 * second copy of every event. The objects are those protobufjs's decode + toObject give
 * (keepCase, longs as numbers, no defaults): a field is there when the bytes hold it, last
 * occurrence wins, fields of other numbers are skipped, strings are read as Node reads UTF-8
 * (malformed sequences become U+FFFD). Every event has one object shape, for the validator.
 * Bytes that are not such a message throw, naming the offset.
 * Wire format: https://protobuf.dev/programming-guides/encoding/
 */

/** An EventInput as decoded: every field a string, or undefined when the bytes lack it. */
export interface WireEventInput {
  id: string | undefined;
  event_type: string | undefined;
  domain: string | undefined;
  entity_type: string | undefined;
  action: string | undefined;
  entity_id: string | undefined;
  entity_name: string | undefined;
  actor_id: string | undefined;
  actor_type: string | undefined;
  organization_id: string | undefined;
  environment: string | undefined;
  severity: string | undefined;
  payload: string | undefined;
}

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const SGROUP = 3;
const EGROUP = 4;
const I32 = 5;

/** Node's own UTF-8 reader without Buffer#toString's argument checks (as protobufjs uses it). */
interface Utf8Sliceable {
  utf8Slice(start: number, end: number): string;
}

class Reader {
  at = 0;
  /** Where the message being read ends (an embedded message's end while it is read). */
  end: number;
  private readonly text: Utf8Sliceable;

  constructor(private readonly buf: Buffer) {
    this.end = buf.length;
    this.text = buf as unknown as Utf8Sliceable;
  }

  private fail(what: string): never {
    throw new RangeError(`${what} at offset ${this.at}`);
  }

  /** A varint of up to 64 bits, as a number (exact up to 2^53, as protobufjs's Long.toNumber). */
  varint(): number {
    const buf = this.buf;
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) this.fail('a varint runs past the end');
      const b = buf[this.at++] as number;
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
      scale *= 0x80;
    }
    return this.fail('a varint is longer than 10 bytes');
  }

  /** The end of a length-delimited field whose length comes next. */
  lengthEnd(): number {
    const length = this.varint();
    const end = this.at + length;
    if (end > this.end) this.fail(`a field of ${length} bytes runs past the end`);
    return end;
  }

  string(): string {
    const end = this.lengthEnd();
    const s = this.text.utf8Slice(this.at, end);
    this.at = end;
    return s;
  }

  /** Skips a field of another number (or one this reader does not know). */
  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case I64:
        this.advance(8);
        return;
      case LEN:
        this.at = this.lengthEnd();
        return;
      case SGROUP:
        for (;;) {
          const tag = this.varint();
          if ((tag & 7) === EGROUP) return;
          this.skip(tag & 7);
        }
      case I32:
        this.advance(4);
        return;
      default:
        this.fail(`invalid wire type ${wireType}`);
    }
  }

  private advance(bytes: number): void {
    if (this.at + bytes > this.end) this.fail(`a ${bytes}-byte field runs past the end`);
    this.at += bytes;
  }

  /** Checks that field `field` came with wire type `wireType`. */
  expect(field: number, wireType: number, want: number): void {
    if (wireType !== want) this.fail(`field ${field} has wire type ${wireType}, not ${want}`);
  }
}

function readEvent(r: Reader): WireEventInput {
  const end = r.lengthEnd();
  const outer = r.end;
  r.end = end;
  const ev: WireEventInput = {
    id: undefined,
    event_type: undefined,
    domain: undefined,
    entity_type: undefined,
    action: undefined,
    entity_id: undefined,
    entity_name: undefined,
    actor_id: undefined,
    actor_type: undefined,
    organization_id: undefined,
    environment: undefined,
    severity: undefined,
    payload: undefined,
  };
  while (r.at < end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field < 1 || field > 13) {
      r.skip(wireType);
      continue;
    }
    r.expect(field, wireType, LEN);
    const s = r.string();
    switch (field) {
      case 1: ev.id = s; break;
      case 2: ev.event_type = s; break;
      case 3: ev.domain = s; break;
      case 4: ev.entity_type = s; break;
      case 5: ev.action = s; break;
      case 6: ev.entity_id = s; break;
      case 7: ev.entity_name = s; break;
      case 8: ev.actor_id = s; break;
      case 9: ev.actor_type = s; break;
      case 10: ev.organization_id = s; break;
      case 11: ev.environment = s; break;
      case 12: ev.severity = s; break;
      default: ev.payload = s;
    }
  }
  r.end = outer;
  return ev;
}

/** Reads a message whose only fields are `events` (number `eventsField`) and an optional uint64 request_id (field 1). */
function readRequest(bytes: Buffer, eventsField: number, withRequestId: boolean): { request_id?: number; events?: WireEventInput[] } {
  const r = new Reader(bytes);
  const out: { request_id?: number; events?: WireEventInput[] } = {};
  const events: WireEventInput[] = [];
  while (r.at < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === eventsField) {
      r.expect(field, wireType, LEN);
      events.push(readEvent(r));
    } else if (withRequestId && field === 1) {
      r.expect(field, wireType, VARINT);
      out.request_id = r.varint();
    } else {
      r.skip(wireType);
    }
  }
  if (events.length > 0) out.events = events;
  return out;
}

/** AppendRequest { repeated EventInput events = 1; } */
export function decodeAppendRequest(bytes: Buffer): { events?: WireEventInput[] } {
  return readRequest(bytes, 1, false);
}

/** AppendStreamRequest { uint64 request_id = 1; repeated EventInput events = 2; } */
export function decodeAppendStreamRequest(bytes: Buffer): { request_id?: number; events?: WireEventInput[] } {
  return readRequest(bytes, 2, true);
}
