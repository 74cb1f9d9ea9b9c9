/**
 * Protobuf bytes written by hand, for the messages on the hot paths of both the server and
 * the client (events, appends): protobufjs's fromObject + encode cost several µs an event,
 * the writer below a fraction of that. Callers write fields in field-number order, as
 * protobufjs does, and the tests compare their bytes with the .proto's own serializer.
 * Wire format: https://protobuf.dev/programming-guides/encoding/
 */

const LEN = 2; // wire type of strings and embedded messages
/** Room kept for a message's length before its bytes are written (a varint of up to 2^35). */
const LENGTH_ROOM = 5;

/** Node's own UTF-8 writer without Buffer#write's argument juggling (as in log/record.ts). */
interface Utf8Writable {
  utf8Write(s: string, offset: number): number;
}

/** Writes protobuf fields into a buffer that grows as needed. */
export class ProtoWriter {
  private buf: Buffer;
  private utf8: Utf8Writable;
  at = 0;

  constructor(initialBytes: number) {
    this.buf = Buffer.allocUnsafe(initialBytes);
    this.utf8 = this.buf as unknown as Utf8Writable;
  }

  private ensure(more: number): void {
    if (this.at + more <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.at + more));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
    this.utf8 = next as unknown as Utf8Writable;
  }

  varint(n: number): void {
    this.ensure(10);
    const buf = this.buf;
    // Above 2^31, bit operations would truncate: divide instead (seqs stay below 2^53).
    while (n > 0x7f) {
      buf[this.at++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[this.at++] = n;
  }

  uint64Field(field: number, n: number): void {
    this.varint(field << 3);
    this.varint(n);
  }

  stringField(field: number, s: string): void {
    const most = 3 * s.length; // UTF-8 bytes of a UTF-16 string, at most
    this.ensure(most + 2 + LENGTH_ROOM);
    this.varint((field << 3) | LEN);
    if (most < 0x80) {
      // The length fits one byte whatever the text: write the text, then its length before it.
      const n = this.utf8.utf8Write(s, this.at + 1);
      this.buf[this.at] = n;
      this.at += 1 + n;
      return;
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.at += this.utf8.utf8Write(s, this.at);
  }

  /** Starts an embedded message of field `field`: returns where its bytes begin. */
  beginMessage(field: number): number {
    this.varint((field << 3) | LEN);
    this.ensure(LENGTH_ROOM);
    this.at += LENGTH_ROOM;
    return this.at;
  }

  /** Ends the message begun at `start`: its length goes before it, and its bytes move up to it. */
  endMessage(start: number): void {
    const length = this.at - start;
    const lengthAt = start - LENGTH_ROOM;
    this.at = lengthAt;
    this.varint(length);
    if (this.at !== start) this.buf.copyWithin(this.at, start, start + length);
    this.at += length;
  }

  /**
   * The bytes written: a view of the writer's buffer, not a copy (grpc-js copies a message
   * into its frame anyway). A writer is done once its bytes are taken.
   */
  bytes(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}
