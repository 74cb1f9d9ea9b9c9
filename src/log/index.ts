export { SegmentLog, type Durability, type FrameRun, type LogEntry, type LogHead, type LogOptions, type Location, type ResumePoint } from './segment-log';
export { encodeFrames, type EncodedFrames } from './record';
export { segmentFileName, type SegmentFiles } from './segment-files';
export { FrameReader } from './frame-reader';
