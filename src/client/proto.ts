/**
 * Loads the service definition from the package's own `proto/` with @grpc/proto-loader, so
 * the client speaks exactly the contract other languages use. The file is found from the
 * package root (the folder of event-spine's package.json above this module): that works
 * from `src/` (tests), from `dist/src/` (the build) and from
 * `node_modules/event-spine/dist/src/` (an installed package, whose "files" ship proto/).
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { packageRoot } from '../paths';
import { appendRequestSerializer, appendStreamRequestSerializer } from './append-encoder';

/** The absolute path of event_spine.proto. */
export function protoPath(): string {
  return join(packageRoot(), 'proto', 'eventspine', 'v1', 'event_spine.proto');
}

/**
 * Decoding choices: wire names kept (snake_case), 64-bit integers as JS numbers (seqs stay
 * far below 2^53), enums as their names, absent fields left out (the wire layer fills in
 * proto3 defaults explicitly, so `optional` fields stay distinguishable from empty ones).
 */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: false,
};

let cached: grpc.ServiceClientConstructor | undefined;

const SERVICE = 'eventspine.v1.EventSpine';

/** The service with the append requests written by append-encoder.ts (same bytes, faster). */
function withAppendEncoders(definition: protoLoader.PackageDefinition): protoLoader.PackageDefinition {
  const service = definition[SERVICE] as protoLoader.ServiceDefinition;
  const { Append, AppendStream } = service;
  if (Append === undefined || AppendStream === undefined) throw new TypeError(`${protoPath()}: ${SERVICE} lacks Append or AppendStream`);
  return {
    ...definition,
    [SERVICE]: {
      ...service,
      Append: { ...Append, requestSerialize: appendRequestSerializer(Append.requestSerialize) },
      AppendStream: { ...AppendStream, requestSerialize: appendStreamRequestSerializer(AppendStream.requestSerialize) },
    },
  };
}

/** The generated service client constructor for eventspine.v1.EventSpine (loaded once). */
export function eventSpineServiceClient(): grpc.ServiceClientConstructor {
  if (cached === undefined) {
    const definition = withAppendEncoders(protoLoader.loadSync(protoPath(), LOADER_OPTIONS));
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { eventspine: { v1: { EventSpine: grpc.ServiceClientConstructor } } };
    cached = pkg.eventspine.v1.EventSpine;
  }
  return cached;
}
