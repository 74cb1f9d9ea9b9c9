/** The bench corpus: ~400-byte spine events (as JSON on the wire), deterministic. */
export function corpusEvent(i: number, withId = false): Record<string, unknown> {
  const ev: Record<string, unknown> = {
    event_type: ['hcm.employee.updated', 'hcm.payroll.approved', 'finance.invoice.created', 'platform.permission.changed'][i % 4],
    entity_id: `0b4e${String(i % 100_000).padStart(8, '0')}-7d1c-4c9a-9a51-entity`,
    entity_name: `Entity number ${i % 100_000}`,
    actor_id: `user-${i % 500}`,
    actor_type: 'human',
    organization_id: `org-${i % 8}`,
    severity: 'low',
    payload: {
      field: 'department',
      old_value: 'platform-engineering-17',
      new_value: 'platform-engineering-42',
      reason: 'quarterly reorganisation approved by the head of people',
      request_id: `req-${i}`,
      amount: (i % 10_000) / 100,
      tags: ['audit', 'hr'],
    },
  };
  if (withId) ev.id = idFor(i);
  return ev;
}

/** A deterministic UUID per corpus index, for idempotent retries. */
export function idFor(i: number): string {
  const hex = i.toString(16).padStart(12, '0');
  return `0190a000-0000-7000-8000-${hex}`;
}

export function corpusEventBytes(): number {
  return Buffer.byteLength(JSON.stringify(corpusEvent(12345, true)));
}
