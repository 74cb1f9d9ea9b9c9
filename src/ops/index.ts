/**
 * Long-running operations and their progress streams (DESIGN §6). An operation is an
 * entity (entity_type `operation`) whose steps are events of domain `ops`; its status is
 * derived from them. Here: the registry (start, status, watch), the batch auto-setup, the
 * daemon's own jobs (verify, export, reindex) and the command line's progress display.
 */
export {
  DONE_STEP,
  ERROR_STEP,
  OPERATION_ENTITY,
  OPERATION_KINDS,
  OPS_DOMAIN,
  isTerminalStep,
  type OperationActor,
  type OperationEvent,
  type OperationKind,
  type OperationStatus,
  type OperationView,
} from './types';
export { DAEMON_ACTOR, Operations, operationFilter, type OperationContext, type OperationRun, type OperationsOptions, type StartedOperation, type WatchOptions } from './operations';
export { deriveView, operationEventData, toOperationEvent } from './view';
export { nameUuid } from './name-uuid';
export { fitPayload, payloadBytes } from './fit-payload';
export { ProgressReporter, formatAmount, type ProgressOutput, type ProgressUnit } from './progress-reporter';
export { ANONYMOUS_ACTOR, OperationService, createOperationService, type OperationServiceSettings } from './service';
export * from './auto-setup';
export * from './jobs';
export { cliActor, processOutput, reindexCommand, remoteJobCommand, takeHttpFlag, type CommandOutput } from './commands';
export { downloadExport, followRemote, httpBase, remoteDaemon, startRemoteJob, takeRemoteFlags, type RemoteDaemon, type RemoteFlags, type RemoteStep } from './remote';
