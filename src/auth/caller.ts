/**
 * Who is calling, and what that allows (DESIGN §7): the scope a call needs, the
 * organizations it may see (its queries are narrowed to them, other tenants' events do not
 * exist for it), and the actor its appends must name. Every API surface asks the same
 * Caller, so gRPC and HTTP cannot drift apart.
 */
import { SpineError } from '../errors';
import type { ValidEvent } from '../event';
import type { QueryFilter } from '../store';
import type { ApiKey, Scope } from './keys';

/** The domain of operation progress events: only the daemon writes it. */
export const RESERVED_DOMAIN = 'ops';

export class Caller {
  /** The anonymous caller of auth.mode "none": every scope, every organization, any actor. */
  static readonly anonymous = new Caller(undefined);

  constructor(readonly key: ApiKey | undefined) {}

  /** The key's id for logs and metrics ("none" for the anonymous caller); never the secret. */
  get keyId(): string {
    return this.key?.id ?? 'none';
  }

  /** The organizations the caller is limited to; undefined: all. */
  get organizations(): readonly string[] | undefined {
    return this.key?.organizations;
  }

  can(scope: Scope): boolean {
    return this.key === undefined || this.key.scopes.has(scope);
  }

  /** Throws PERMISSION_DENIED unless the key has `scope`; `what` names the call. */
  require(scope: Scope, what: string): void {
    if (!this.can(scope)) {
      throw new SpineError('PERMISSION_DENIED', `${what} needs the "${scope}" scope; key ${this.keyId} has ${[...(this.key?.scopes ?? [])].join(', ')}`);
    }
  }

  /** Throws PERMISSION_DENIED unless the caller sees every organization (process-wide data such as /metrics). */
  requireAllOrganizations(what: string): void {
    if (this.organizations !== undefined) {
      throw new SpineError('PERMISSION_DENIED', `${what} covers every organization; key ${this.keyId} is limited to ${this.organizations.join(', ')}`);
    }
  }

  /** Whether an event (or operation) of organization `org` exists for this caller. */
  sees(org: string): boolean {
    return this.organizations === undefined || this.organizations.includes(org);
  }

  /**
   * The filter narrowed to the caller's organizations. Naming another organization is
   * PERMISSION_DENIED (rather than an empty answer, which would look like "no events").
   */
  restrict<F extends QueryFilter>(filter: F): F {
    const orgs = this.organizations;
    if (orgs === undefined) return filter;
    if (filter.organization_id !== undefined && !orgs.includes(filter.organization_id)) {
      throw new SpineError('PERMISSION_DENIED', `organization_id: key ${this.keyId} may not read organization ${JSON.stringify(filter.organization_id)}`, { field: 'organization_id' });
    }
    return { ...filter, organizations: orgs };
  }

  /**
   * Fills in what a bound key implies before validation: the actor it is bound to, and its
   * organization when it has exactly one. Inputs that name them are left as they are (and
   * checked by checkAppend after validation); anything that is not an object is left for
   * validation to refuse.
   */
  bindInputs<T>(inputs: readonly T[]): T[] {
    const key = this.key;
    if (key === undefined) return inputs as T[];
    const fill: Record<string, string> = {};
    if (key.actor_id !== undefined) fill.actor_id = key.actor_id;
    if (key.actor_type !== undefined) fill.actor_type = key.actor_type;
    if (key.organizations?.length === 1) fill.organization_id = key.organizations[0] as string;
    const names = Object.keys(fill);
    if (names.length === 0) return inputs as T[];
    return inputs.map((input) => {
      if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
      const o = input as Record<string, unknown>;
      const missing = names.filter((n) => o[n] === undefined || o[n] === null || o[n] === '');
      if (missing.length === 0) return input;
      const out: Record<string, unknown> = { ...o };
      for (const n of missing) out[n] = fill[n];
      return out as T;
    });
  }

  /**
   * Refuses a batch (nothing stored) if any event is in the reserved `ops` domain, in an
   * organization the key may not write, or attributed to an actor other than the key's.
   * Errors name `events[i].field` (`field` alone for a single event, `prefix` '').
   */
  checkAppend(events: readonly ValidEvent[], prefix = (i: number) => `events[${i}].`): void {
    this.require('append', 'appending events');
    const key = this.key;
    // The field's name is made only for a refusal: a batch that passes allocates nothing.
    const denied = (i: number, name: string, why: string): SpineError => {
      const field = `${prefix(i)}${name}`;
      return new SpineError('PERMISSION_DENIED', `${field}: ${why}`, { field });
    };
    for (let i = 0; i < events.length; i++) {
      const ev = events[i] as ValidEvent;
      if (ev.domain === RESERVED_DOMAIN) {
        throw denied(i, 'event_type', `the "${RESERVED_DOMAIN}" domain is reserved for the daemon's operations; no caller may append to it`);
      }
      if (key === undefined) continue;
      if (key.organizations !== undefined && !key.organizations.includes(ev.organization_id)) {
        throw denied(i, 'organization_id', `key ${key.id} may not append to organization ${JSON.stringify(ev.organization_id)} (it may: ${key.organizations.join(', ')})`);
      }
      if (key.actor_id !== undefined && ev.actor_id !== key.actor_id) {
        throw denied(i, 'actor_id', `key ${key.id} appends as actor ${JSON.stringify(key.actor_id)}, not ${JSON.stringify(ev.actor_id)}`);
      }
      if (key.actor_type !== undefined && ev.actor_type !== key.actor_type) {
        throw denied(i, 'actor_type', `key ${key.id} appends as actor_type ${JSON.stringify(key.actor_type)}, not ${JSON.stringify(ev.actor_type)}`);
      }
    }
  }
}
