/**
 * The leader's side of InstallSnapshot: one client-streaming call per snapshot.
 *
 * Requests: a header (hello + the snapshot message), the data in pieces of at most
 * snapshotChunkBytes (pieces from openSnapshot larger than that are cut, smaller ones go as they
 * are), then done with the byte count and CRC-32C of all the data. The writer waits for 'drain'
 * whenever the stream is full, so at most about one chunk is buffered beyond HTTP/2's window.
 * Resolves once the follower answers OK (the data is staged and its core has the message);
 * rejects with a TransportError carrying the call's status otherwise.
 */
import type http2 from "node:http2";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { crc32c } from "@node-rs/crc32";
import { InstallSnapshotRequestSchema, type PeerHello } from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import type { SnapshotMessage } from "../raft/index.js";
import { encodeEnvelopes } from "../wire/index.js";
import { TransportError } from "./errors.js";
import { GrpcClientCall } from "./grpc-client-call.js";
import { describeStatus, GRPC_OK, type GrpcStatus } from "./grpc-status.js";
import { messageToProto } from "./message-codec.js";
import { RAFT_PATHS } from "./raft-paths.js";
import type { TransportLimits } from "./transport-options.js";

export async function sendSnapshot(
  session: http2.ClientHttp2Session,
  hello: PeerHello,
  message: SnapshotMessage,
  data: AsyncIterable<Uint8Array>,
  limits: TransportLimits,
): Promise<void> {
  let wakeWriter: (() => void) | undefined;
  const wake = (): void => {
    const w = wakeWriter;
    wakeWriter = undefined;
    w?.();
  };
  let status: GrpcStatus | undefined;
  let resolveEnded!: (s: GrpcStatus) => void;
  const ended = new Promise<GrpcStatus>((resolve) => {
    resolveEnded = resolve;
  });
  const call = new GrpcClientCall(
    session,
    { path: RAFT_PATHS.installSnapshot, maxMessageBytes: limits.maxMessageBytes, timeoutMs: limits.snapshotTimeoutMs },
    {
      onMessage: () => {},
      onDrain: wake,
      onEnd: (s) => {
        status = s;
        resolveEnded(s);
        wake();
      },
    },
  );

  const write = async (part: MessageInitShape<typeof InstallSnapshotRequestSchema>): Promise<void> => {
    const frame = encodeEnvelopes([toBinary(InstallSnapshotRequestSchema, create(InstallSnapshotRequestSchema, part))]);
    if (call.write(frame)) return;
    await new Promise<void>((resolve) => {
      wakeWriter = resolve;
    });
  };

  await write({ part: { case: "header", value: { hello, message: messageToProto(message) } } });
  let totalBytes = 0;
  let checksum = 0;
  try {
    for await (const piece of data) {
      for (let offset = 0; offset < piece.length && status === undefined; offset += limits.snapshotChunkBytes) {
        const chunk = piece.subarray(offset, offset + limits.snapshotChunkBytes);
        checksum = crc32c(chunk, checksum);
        totalBytes += chunk.length;
        await write({ part: { case: "chunk", value: chunk } });
      }
      if (status !== undefined) break;
    }
  } catch (err) {
    call.cancel({ code: Code.Internal, message: "reading the snapshot failed" });
    throw new TransportError(`reading snapshot ${message.snapshot.index}/${message.snapshot.term} failed: ${(err as Error).message}`, Code.Internal, { cause: err });
  }
  if (status === undefined) {
    await write({ part: { case: "done", value: { totalBytes: BigInt(totalBytes), crc32c: checksum } } });
    call.end();
  }
  const final = await ended;
  if (final.code !== GRPC_OK) throw new TransportError(`the follower did not take the snapshot (${describeStatus(final)})`, final.code);
}
