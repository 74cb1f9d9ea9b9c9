export { SegmentLog, segmentFileName, type Durability, type LogEntry, type LogHead, type LogOptions, type Location, type ResumePoint } from './segment-log';
