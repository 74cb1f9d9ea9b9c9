/**
 * The standard gRPC health service, grpc.health.v1.Health
 * (https://github.com/grpc/grpc/blob/master/doc/health-checking.md). Known services: ""
 * (the whole server) and eventspine.v1.EventSpine; they are SERVING while the store is open
 * and NOT_SERVING from the start of a shutdown. Check answers NOT_FOUND for other names;
 * Watch sends SERVICE_UNKNOWN for them and stays open, as the protocol says.
 */
import type * as grpc from '@grpc/grpc-js';
import { GrpcStatus, SpineError } from '../../errors';
import { checkDecoded, openUnary, recordCall, type Malformed, type ServiceContext } from './calls';
import type { HealthCheckRequestMsg, HealthCheckResponseMsg, ServingStatus } from './messages';
import { SPINE_SERVICE } from './proto';

interface Watcher {
  service: string;
  last: ServingStatus | undefined;
  call: grpc.ServerWritableStream<HealthCheckRequestMsg | Malformed, HealthCheckResponseMsg>;
}

export class HealthService {
  private readonly statuses = new Map<string, ServingStatus>([
    ['', 'NOT_SERVING'],
    [SPINE_SERVICE, 'NOT_SERVING'],
  ]);
  private readonly watchers = new Set<Watcher>();

  /** Sets every known service's status and tells the watchers. */
  setAll(status: ServingStatus): void {
    for (const name of this.statuses.keys()) this.statuses.set(name, status);
    for (const w of this.watchers) this.send(w);
  }

  status(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Ends every Watch (after its last status), for a shutdown. */
  endWatches(): void {
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      if (!w.call.cancelled) w.call.end();
    }
  }

  handlers(ctx: ServiceContext) {
    return {
      Check: openUnary<HealthCheckRequestMsg, HealthCheckResponseMsg>(ctx, 'Health/Check', async (req) => {
        const service = req.service ?? '';
        const status = this.statuses.get(service);
        if (status === undefined) throw new SpineError('NOT_FOUND', `service: no service named ${JSON.stringify(service)} here`, { field: 'service' });
        return { status };
      }),

      List: openUnary<Record<string, never>, { statuses: Record<string, HealthCheckResponseMsg> }>(ctx, 'Health/List', async () => ({
        statuses: Object.fromEntries([...this.statuses].map(([name, status]) => [name, { status }])),
      })),

      Watch: (call: grpc.ServerWritableStream<HealthCheckRequestMsg | Malformed, HealthCheckResponseMsg>): void => {
        let req: HealthCheckRequestMsg;
        try {
          req = checkDecoded(call.request);
        } catch {
          req = {};
        }
        const watcher: Watcher = { service: req.service ?? '', last: undefined, call };
        this.watchers.add(watcher);
        call.once('cancelled', () => {
          if (this.watchers.delete(watcher)) recordCall(ctx, 'Health/Watch', GrpcStatus.CANCELLED);
        });
        this.send(watcher);
        if (ctx.calls.closing) this.endWatches();
      },
    };
  }

  private send(w: Watcher): void {
    const status = this.statuses.get(w.service) ?? 'SERVICE_UNKNOWN';
    if (status === w.last || w.call.cancelled) return;
    w.last = status;
    w.call.write({ status });
  }
}
