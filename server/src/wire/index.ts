/**
 * The wire layer's public surface: gRPC message framing shared by the API's fast paths and the
 * Raft transport, so neither depends on the other's internals.
 */
export { encodeEnvelopes, GrpcEnvelopeReader } from "./grpc-envelope.js";
export type { MessageHandler } from "./grpc-envelope.js";
