/** The daemon's long jobs: verify, export and reindex, with progress, offline or as operations. */
export { verifyWithProgress, sliceSize, type ProgressCallback } from './verify';
export { exportLine, exportWithProgress, type ExportResult } from './export';
export { reindex, type ReindexResult } from './reindex';
export { DAEMON_JOB_KINDS, checkJobKind, exportFile, startDaemonJob, type DaemonJobKind, type DaemonJobSettings } from './daemon-jobs';
