/**
 * The gRPC surface: eventspine.v1.EventSpine mapped onto the store, the standard health
 * service and server reflection. Errors follow ERROR_TABLE, with trailing metadata
 * `error-code` and `error-field`.
 */
export { GrpcServer, formatAddress, type GrpcServerOptions } from './server';
export type { ServiceSettings } from './calls';
export { ERROR_CODE_KEY, ERROR_FIELD_KEY } from './status';
export { HEALTH_PROTO, HEALTH_SERVICE, LOADER_OPTIONS, SPINE_PROTO, SPINE_SERVICE, loadPackageDefinition, protoDir } from './proto';
