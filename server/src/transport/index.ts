/**
 * The transport layer's public surface: RaftTransport carries the consensus core's messages
 * between members over the sisyphus.raft.v1.RaftService peer protocol (gRPC over HTTP/2, one
 * long-lived connection per peer, natural batching); createPeerServer serves it on a port.
 * The message codec is exported for tests and tools that read the wire.
 */
export { RaftTransport } from "./raft-transport.js";
export type { RaftTransportOptions } from "./raft-transport.js";
export { createPeerServer } from "./peer-server.js";
export type { PeerServer, PeerServerOptions } from "./peer-server.js";
export type { PeerStats } from "./peer-link.js";
export type { ConnectionState } from "./peer-connection.js";
export { DEFAULT_TRANSPORT_LIMITS } from "./transport-options.js";
export type { TransportHandlers, TransportLimits, TransportLogger } from "./transport-options.js";
export { ForwardError, MessageCodecError, PeerIdentityError, TransportError } from "./errors.js";
export { decodeMessage, encodeMessage, messageFromProto, messageToProto } from "./message-codec.js";
export { RAFT_PATHS } from "./raft-paths.js";
