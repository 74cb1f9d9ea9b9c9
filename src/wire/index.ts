/**
 * The protobuf wire format, written by hand where protobufjs would cost the hot paths
 * most of their time: shared by the gRPC server (answers) and the client (append requests).
 */
export { ProtoWriter } from './proto-writer';
export { decodeAppendRequest, decodeAppendStreamRequest, type WireEventInput } from './append-decoder';
