/**
 * Knowing that a client-given id is new without asking the index. Every id must be looked
 * up before it is stored (idempotency), and a LevelDB look-up of an absent key is the
 * expensive kind: no bloom filter, a block per level. Clients send UUIDv7 ids, whose first
 * 48 bits are their creation time, and almost all of them are new.
 *
 * The invariant: every stored UUIDv7 id of a time at or after `horizonMs` is kept (as its
 * key, below). It holds at open, where the horizon is just past the newest indexed id (the
 * index keeps that time with its head, and open catches the index up with the log first).
 * It is kept by adding each id as it is sealed, before it can be stored. So an id at or
 * past the horizon whose key is not kept is surely new; anything else (older ids, other
 * UUID versions, kept keys) is looked up as before. A sealed id whose write then fails
 * stays kept: that costs a look-up, never a wrong answer.
 *
 * Memory is bounded and nothing is allocated per id: ids are kept as a 28-bit key (the
 * last seven hex digits, random in every UUIDv7) in two generations of open-addressing
 * tables. When the newer one holds `limit / 2` keys, the older is cleared and the horizon
 * moves just past its newest id, which keeps the invariant. Two ids sharing a key only
 * cost a look-up. At the default limit the horizon trails the newest ids by 32k–64k
 * appends (seconds at full speed), so only retries and ids made that long before they
 * arrive are looked up. (A Map of the id strings cost ~250 bytes of garbage per append in
 * its rehashing and a share of the main thread's time.)
 */
import { uuidv7Ms } from '../event/uuid';

/** The key of a canonical UUID: its last seven hex digits, plus one (0 marks an empty slot). */
function keyOf(id: string): number {
  let key = 0;
  for (let i = 29; i < 36; i++) {
    const c = id.charCodeAt(i);
    key = key * 16 + (c <= 0x39 ? c - 0x30 : c - 0x57);
  }
  return key + 1;
}

/**
 * A set of keys in a table twice its capacity (linear probing), cleared rather than deleted
 * from. A key's first slot is its Fibonacci hash: keys of ids that count up (a client's
 * sequential ids) would otherwise fill one run of slots, and a look-up that lands in it
 * would walk the whole run.
 */
class KeyTable {
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly shift: number;
  size = 0;
  /** The newest UUIDv7 time among the keys. */
  newestMs = -1;

  constructor(capacity: number) {
    let bits = 1;
    while (1 << bits < 2 * capacity) bits++;
    this.slots = new Int32Array(1 << bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
  }

  private first(key: number): number {
    return Math.imul(key, 0x9e3779b1) >>> this.shift;
  }

  has(key: number): boolean {
    for (let i = this.first(key); ; i = (i + 1) & this.mask) {
      const k = this.slots[i] as number;
      if (k === key) return true;
      if (k === 0) return false;
    }
  }

  add(key: number, ms: number): void {
    if (ms > this.newestMs) this.newestMs = ms;
    for (let i = this.first(key); ; i = (i + 1) & this.mask) {
      const k = this.slots[i] as number;
      if (k === key) return;
      if (k === 0) {
        this.slots[i] = key;
        this.size++;
        return;
      }
    }
  }

  clear(): void {
    this.slots.fill(0);
    this.size = 0;
    this.newestMs = -1;
  }
}

export class RecentIds {
  private horizonMs: number;
  private newer: KeyTable;
  private older: KeyTable;
  private readonly generation: number;

  constructor(
    newestStoredIdMs: number,
    limit = 1 << 16,
  ) {
    this.horizonMs = newestStoredIdMs + 1;
    this.generation = Math.max(1, limit >> 1);
    this.newer = new KeyTable(this.generation);
    this.older = new KeyTable(this.generation);
  }

  /** Whether `id` (canonical lowercase) is surely not stored. */
  isSurelyNew(id: string): boolean {
    if (uuidv7Ms(id) < this.horizonMs) return false;
    const key = keyOf(id);
    return !this.newer.has(key) && !this.older.has(key);
  }

  /** Notes an id being sealed (client-given or made by the server). */
  add(id: string): void {
    const ms = uuidv7Ms(id);
    if (ms < this.horizonMs) return;
    this.newer.add(keyOf(id), ms);
    if (this.newer.size >= this.generation) this.dropOlder();
  }

  /** The older generation goes; every id it held is older than the new horizon. */
  private dropOlder(): void {
    const dropped = this.older;
    if (dropped.newestMs >= this.horizonMs) this.horizonMs = dropped.newestMs + 1;
    dropped.clear();
    this.older = this.newer;
    this.newer = dropped;
  }
}
