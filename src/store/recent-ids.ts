/**
 * Knowing that a client-given id is new without asking the index. Every id must be looked
 * up before it is stored (idempotency), and a LevelDB look-up of an absent key is the
 * expensive kind: no bloom filter, a block per level. Clients send UUIDv7 ids, whose first
 * 48 bits are their creation time, and almost all of them are new.
 *
 * The invariant: every stored UUIDv7 id of a time at or after `horizonMs` is in `ids`.
 * It holds at open, where the horizon is just past the newest indexed id (the index keeps
 * that time with its head, and open catches the index up with the log first). It is kept
 * by adding each id as it is sealed, before it can be stored. So an id at or past the
 * horizon that is not in `ids` is surely new; anything else (older ids, other UUID
 * versions, ids in `ids`) is looked up as before. A sealed id whose write then fails stays
 * in `ids`: that costs a look-up, never a wrong answer.
 *
 * Memory is bounded: past `limit` ids, the older half is dropped and the horizon moves just
 * past the newest of the dropped ones, which keeps the invariant. At the default limit the
 * horizon trails the newest ids by 32k–64k appends (seconds at full speed), so only retries
 * and ids made that long before they arrive are looked up; a small map also keeps the
 * lookups in cache and out of the garbage collector's way.
 */
import { uuidv7Ms } from '../event/uuid';

export class RecentIds {
  private horizonMs: number;
  /** id → its UUIDv7 time, in the order sealed. */
  private readonly ids = new Map<string, number>();

  constructor(
    newestStoredIdMs: number,
    private readonly limit = 1 << 16,
  ) {
    this.horizonMs = newestStoredIdMs + 1;
  }

  /** Whether `id` (canonical lowercase) is surely not stored. */
  isSurelyNew(id: string): boolean {
    return uuidv7Ms(id) >= this.horizonMs && !this.ids.has(id);
  }

  /** Notes an id being sealed (client-given or made by the server). */
  add(id: string): void {
    const ms = uuidv7Ms(id);
    if (ms < this.horizonMs) return;
    this.ids.set(id, ms);
    if (this.ids.size > this.limit) this.dropOlderHalf();
  }

  private dropOlderHalf(): void {
    let toDrop = this.ids.size >> 1;
    let newestDropped = this.horizonMs - 1;
    for (const [id, ms] of this.ids) {
      if (toDrop-- === 0) break;
      if (ms > newestDropped) newestDropped = ms;
      this.ids.delete(id);
    }
    this.horizonMs = newestDropped + 1;
  }
}
