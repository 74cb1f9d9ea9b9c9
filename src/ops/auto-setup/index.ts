/** The batch auto-setup: request checks, recommendation rules, evaluation, and the operation. */
export {
  DEFAULT_AUTO_SETUP_LIMITS,
  DEFAULT_AUTO_SETUP_OPTIONS,
  parseAutoSetupRequest,
  qualifiedName,
  type AutoSetupLimits,
  type AutoSetupOptions,
  type AutoSetupRequest,
  type ColumnInput,
  type ColumnStatistics,
  type Scalar,
  type TableInput,
  type TableStatistics,
} from './request';
export { interpretType, type ValueKind } from './column-types';
export { interpretTable, type ColumnModel, type TableInterpretation, type TableModel } from './table-model';
export { CHECK_KINDS, checkId, recommendChecks, type CheckKind, type CheckSpec } from './rules';
export { evaluateCheck, type CheckDefinition, type CheckResult, type CheckStatus } from './evaluate';
export { CHECK_CREATED, CHECK_EVALUATED, startBatchAutoSetup, storedDefinition } from './run';

/** The step names of a batch auto-setup, in the order they can occur (the Maysano seed's SSE event names). */
export const AUTO_SETUP_STEPS = [
  'recommend_phase_start',
  'recommend_start',
  'recommend_complete',
  'recommend_error',
  'recommend_phase_done',
  'create_phase_start',
  'create_progress',
  'create_error',
  'create_phase_done',
  'run_start',
  'run_complete',
  'done',
  'error',
] as const;
