/**
 * What the API surfaces call: requests checked and turned into operations the same way
 * for HTTP and gRPC, with the daemon's settings (limits, the default organization, where
 * exports go).
 */
import { join } from 'node:path';
import type { Caller } from '../auth';
import { SpineError } from '../errors';
import { ACTOR_TYPES, type ActorType } from '../event';
import type { Store } from '../store';
import { DEFAULT_AUTO_SETUP_LIMITS, parseAutoSetupRequest, type AutoSetupLimits } from './auto-setup/request';
import { startBatchAutoSetup } from './auto-setup/run';
import { checkJobKind, exportFile, startDaemonJob, type DaemonJobKind } from './jobs/daemon-jobs';
import { Operations, type StartedOperation, type WatchOptions } from './operations';
import type { OperationActor, OperationEvent, OperationView } from './types';

export interface OperationServiceSettings {
  /** defaults.organizationId: the tenant of requests that name none. */
  defaultOrganizationId: string;
  autoSetupLimits: AutoSetupLimits;
  /** Where export operations write their files (`<dataDir>/exports`). */
  exportsDir: string;
}

/** Who a request names as its actor; `anonymous` (human) when it names none. */
export const ANONYMOUS_ACTOR = 'anonymous';

export class OperationService {
  constructor(
    readonly operations: Operations,
    private readonly store: Store,
    readonly settings: OperationServiceSettings,
  ) {}

  /**
   * Checks a batch auto-setup request (INVALID_REQUEST naming the field) and starts it. It
   * appends checks, so it needs the append scope, in an organization and as an actor the
   * caller may append as.
   */
  startAutoSetup(body: unknown, caller: Caller): Promise<StartedOperation> {
    caller.require('append', 'a batch auto-setup');
    const request = parseAutoSetupRequest(body, this.settings.autoSetupLimits);
    return startBatchAutoSetup(this.operations, request, this.actor(request, caller));
  }

  /** `{kind: "verify" | "export", actor_id?, actor_type?, organization_id?}`: starts a daemon job. */
  startJob(body: unknown, caller: Caller): Promise<StartedOperation> {
    caller.require('admin', 'starting a verify or export operation');
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new SpineError('INVALID_REQUEST', 'the body must be an object such as {"kind":"verify"}');
    const o = body as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (!['kind', 'actor_id', 'actor_type', 'organization_id'].includes(key)) throw new SpineError('INVALID_REQUEST', `${key}: unknown field; the fields are kind, actor_id, actor_type, organization_id`, { field: key });
    }
    const kind: DaemonJobKind = checkJobKind(o.kind);
    const actor: Partial<Record<'actor_id' | 'organization_id', string>> & { actor_type?: ActorType } = {};
    for (const key of ['actor_id', 'organization_id'] as const) {
      const v = o[key];
      if (v === undefined) continue;
      if (typeof v !== 'string' || v.trim() === '' || v.length > 256) throw new SpineError('INVALID_REQUEST', `${key}: must be a non-empty string of at most 256 characters`, { field: key });
      actor[key] = v;
    }
    if (o.actor_type !== undefined) {
      if (typeof o.actor_type !== 'string' || !(ACTOR_TYPES as readonly string[]).includes(o.actor_type)) throw new SpineError('INVALID_REQUEST', `actor_type: must be one of ${ACTOR_TYPES.join(', ')}`, { field: 'actor_type' });
      actor.actor_type = o.actor_type as ActorType;
    }
    // An export is the whole chain (so that anyone can re-verify it): every organization's events.
    if (kind === 'export') caller.requireAllOrganizations('an export');
    return startDaemonJob(this.operations, kind, this.actor(actor, caller), { exportsDir: this.settings.exportsDir }, this.store.head().seq, caller.organizations);
  }

  /**
   * Who an operation is by: what the request names, where the caller's key allows it; a
   * key's bound actor and single organization fill in what the request leaves out.
   */
  private actor(a: { actor_id?: string; actor_type?: ActorType; organization_id?: string }, caller: Caller): OperationActor & { organization_id: string } {
    const key = caller.key;
    const orgs = caller.organizations;
    const chosen = {
      actor_id: a.actor_id ?? key?.actor_id ?? ANONYMOUS_ACTOR,
      actor_type: a.actor_type ?? key?.actor_type ?? 'human',
      organization_id: a.organization_id ?? (orgs?.length === 1 ? (orgs[0] as string) : this.settings.defaultOrganizationId),
    };
    const deny = (field: string, message: string): never => {
      throw new SpineError('PERMISSION_DENIED', `${field}: key ${caller.keyId} ${message}`, { field });
    };
    if (!caller.sees(chosen.organization_id)) deny('organization_id', `may not act in organization ${JSON.stringify(chosen.organization_id)} (it may: ${(orgs ?? []).join(', ')})`);
    if (key?.actor_id !== undefined && chosen.actor_id !== key.actor_id) deny('actor_id', `acts as ${JSON.stringify(key.actor_id)}, not ${JSON.stringify(chosen.actor_id)}`);
    if (key?.actor_type !== undefined && chosen.actor_type !== key.actor_type) deny('actor_type', `acts as actor_type ${JSON.stringify(key.actor_type)}, not ${JSON.stringify(chosen.actor_type)}`);
    return chosen;
  }

  /**
   * The operation's status; NOT_FOUND when there is none, or when it belongs to an
   * organization the caller does not see (the same answer: its existence is not revealed).
   */
  async get(id: string, caller: Caller): Promise<OperationView> {
    caller.require('read', 'reading an operation');
    const view = await this.operations.get(id);
    if (view === undefined || !caller.sees(view.organization_id)) throw new SpineError('NOT_FOUND', `no operation with id ${id}`, { field: 'id' });
    return view;
  }

  /** The operation's steps from `options.after`; check visibility with get() first. */
  async *watch(id: string, caller: Caller, options: WatchOptions = {}): AsyncGenerator<OperationEvent> {
    await this.get(id, caller);
    yield* this.operations.watch(id, options);
  }

  /** The file of a finished export operation; NOT_FOUND otherwise. */
  async exportFile(id: string, caller: Caller): Promise<string> {
    caller.requireAllOrganizations('an export file');
    const view = await this.get(id, caller);
    if (view.kind !== 'export') throw new SpineError('NOT_FOUND', `operation ${id} is a ${view.kind}, not an export`, { field: 'id' });
    if (view.status !== 'succeeded') throw new SpineError('NOT_FOUND', `export ${id} is ${view.status}: there is no file ${view.status === 'running' ? 'yet' : ''}`.trimEnd(), { field: 'id' });
    return exportFile({ exportsDir: this.settings.exportsDir }, view.id);
  }
}

/** The daemon's operations over its store, with the settings of its configuration. */
export function createOperationService(
  store: Store,
  config: { dataDir: string; defaults: { organizationId: string }; limits: { maxPayloadBytes: number }; operations?: { maxRunning: number; autoSetupMaxTables: number; autoSetupMaxColumns: number } },
  onNotice: (message: string, details: Record<string, unknown>) => void,
): OperationService {
  const o = config.operations;
  const operations = new Operations(store, { maxPayloadBytes: config.limits.maxPayloadBytes, ...(o === undefined ? {} : { maxRunning: o.maxRunning }), onNotice });
  return new OperationService(operations, store, {
    defaultOrganizationId: config.defaults.organizationId,
    autoSetupLimits: o === undefined ? DEFAULT_AUTO_SETUP_LIMITS : { maxTables: o.autoSetupMaxTables, maxColumns: o.autoSetupMaxColumns },
    exportsDir: join(config.dataDir, 'exports'),
  });
}
