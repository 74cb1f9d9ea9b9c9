/** An SDK client on a test's daemon, closed on teardown, and events shaped like the seed's. */
import type { Test } from 'tap';
import { EventSpineClient, type ClientOptions, type EmitEvent } from '../../src/client';

/** Fast retries for tests: a restarted daemon is found within a fraction of a second, and
 * retries hold out for ~45 s (a restart on a loaded machine can take many seconds). */
export const TEST_RETRY = { attempts: 200, baseDelayMs: 20, maxDelayMs: 250 };

export function openClient(t: Test, address: string, options: Partial<ClientOptions> = {}): EventSpineClient {
  const client = new EventSpineClient({ address, retry: TEST_RETRY, defaults: { organization_id: 'acme', environment: 'test' }, ...options });
  t.teardown(() => client.close());
  return client;
}

/** `emit_event(event_type="hcm.employee.updated", entity_type="employee", …)`, numbered. */
export function employeeEvent(n: number, over: Partial<EmitEvent> = {}): EmitEvent {
  return {
    event_type: 'hcm.employee.updated',
    entity_type: 'employee',
    entity_id: `emp-${n % 100}`,
    action: 'updated',
    actor_id: `user-${n % 7}`,
    payload: { n, field: 'department', old_value: 'd-17', new_value: 'd-42' },
    ...over,
  };
}

/**
 * Rejects after `ms` with a message naming what took too long (every wait in a test is
 * bounded), and with `state()` when given: what had happened by then.
 */
export function within<T>(ms: number, what: string, p: Promise<T>, state?: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms${state === undefined ? '' : `; ${state()}`}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
