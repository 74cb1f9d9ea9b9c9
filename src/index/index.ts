export { EventIndex, type IndexHead, type IndexRecord, type Posting } from './event-index';
export { Tag, entityValue, INDEX_FORMAT_VERSION, LOCATION_STRIDE } from './keys';
