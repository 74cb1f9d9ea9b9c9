/** Opens a store in a fresh test directory and closes it on teardown. */
import type { Test } from 'tap';
import { Store, type StoreOptions } from '../../src/store';

export const storeDefaults = {
  segmentBytes: 64 * 1024 * 1024,
  durability: 'fsync',
  defaultOrganizationId: 'default',
  defaultEnvironment: 'prod',
  maxPayloadBytes: 64 * 1024,
  maxBatchEvents: 10_000,
} as const;

export async function openStore(t: Test, options: Partial<StoreOptions> = {}): Promise<{ store: Store; dir: string; reopen: (more?: Partial<StoreOptions>) => Promise<Store> }> {
  const dir = options.dataDir ?? t.testdir();
  const all = (more: Partial<StoreOptions> = {}): StoreOptions => ({ ...storeDefaults, ...options, ...more, dataDir: dir });
  let current = await Store.open(all());
  t.teardown(() => current.close());
  return {
    store: current,
    dir,
    reopen: async (more) => {
      await current.close();
      current = await Store.open(all(more));
      return current;
    },
  };
}

let counter = 0;
/** A ~400-byte event like the benches use. */
export function sampleEvent(over: Record<string, unknown> = {}): Record<string, unknown> {
  counter += 1;
  return {
    event_type: 'hcm.employee.updated',
    entity_id: `emp-${counter % 1000}`,
    entity_name: `Employee ${counter % 1000}`,
    actor_id: `user-${counter % 50}`,
    payload: { field: 'department', old_value: 'd-17', new_value: 'd-42', reason: 'reorganisation of the platform team', n: counter },
    ...over,
  };
}
