export { SegmentLog, segmentFileName, type Durability, type FrameBatch, type LogEntry, type LogHead, type LogOptions, type Location, type ResumePoint } from './segment-log';
export { encodeFrames, type EncodedFrames } from './record';
