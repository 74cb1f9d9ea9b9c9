/**
 * The gRPC contract, loaded at run time from the package's proto/ folder: the
 * EventSpine service and the standard health service, in one package definition (which
 * also feeds server reflection).
 */
import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { packageRoot } from '../../paths';

export const SPINE_PROTO = 'eventspine/v1/event_spine.proto';
export const HEALTH_PROTO = 'grpc/health/v1/health.proto';
export const SPINE_SERVICE = 'eventspine.v1.EventSpine';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/**
 * How messages become JavaScript objects:
 * - keepCase: field names as in the .proto (snake_case, the envelope's names);
 * - longs: Number: uint64 seqs as numbers (seqs stay far below 2^53);
 * - enums: String: `ORDER_DESC`, `SERVING`;
 * - defaults: false: an absent field is undefined, so "absent" and "empty" differ where
 *   the .proto says `optional`; proto3 scalars left at their default arrive undefined too;
 * - oneofs: true: a virtual property names the member set (`key: 'seq'`, `item: 'event'`).
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [],
};

export function protoDir(): string {
  return join(packageRoot(), 'proto');
}

let cached: protoLoader.PackageDefinition | undefined;

/** The package definition of both services (cached: loading parses the .proto files). */
export function loadPackageDefinition(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync([SPINE_PROTO, HEALTH_PROTO], { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  return cached;
}
