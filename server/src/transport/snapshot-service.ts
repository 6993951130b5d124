/**
 * The follower's side of InstallSnapshot. The header is checked (hello; a snapshot message from
 * the caller to this member), then handlers.receiveSnapshot starts staging while the chunks
 * stream in (SnapshotChunks, with back-pressure on the request). `done` is checked against the
 * bytes and CRC-32C received; only when it matches does the data iteration end normally. Once the
 * handler has staged all of it, the snapshot message goes to the core and the call ends OK.
 *
 * Any failure (a part out of place, the stream ending before done, totals that do not match, the
 * caller going away, a newer snapshot from the same caller) makes the data iteration throw, so
 * the handler discards what it staged, and the core never hears of this snapshot.
 */
import { Code } from "@connectrpc/connect";
import { crc32c } from "@node-rs/crc32";
import { InstallSnapshotRequestSchema } from "../../../gen/sisyphus/raft/v1/raft_pb.js";
import type { SnapshotMessage } from "../raft/index.js";
import { encodeEnvelopes } from "../wire/index.js";
import { MessageCodecError, TransportError } from "./errors.js";
import type { GrpcServerCall } from "./grpc-server-call.js";
import { OK_STATUS, statusOf } from "./grpc-status.js";
import type { InboundContext } from "./inbound-context.js";
import { decodeProto, messageFromProto } from "./message-codec.js";
import { checkAddressing } from "./peer-identity.js";
import type { PeerLink } from "./peer-link.js";
import { SnapshotChunks } from "./snapshot-chunks.js";

/** An empty InstallSnapshotResponse. */
const EMPTY_RESPONSE = encodeEnvelopes([new Uint8Array(0)]);
/** Chunks buffered for the handler before reading stops, and after which it resumes. */
const PAUSE_AT_CHUNKS = 4;
const RESUME_AT_CHUNKS = 1;

export function serveInstallSnapshot(call: GrpcServerCall, ctx: InboundContext): void {
  new SnapshotReceiver(call, ctx).start();
}

class SnapshotReceiver {
  private stage: "header" | "data" | "done" = "header";
  private readonly chunks: SnapshotChunks;
  private receivedBytes = 0;
  private checksum = 0;

  constructor(
    private readonly call: GrpcServerCall,
    private readonly ctx: InboundContext,
  ) {
    const chunkBytes = ctx.limits.snapshotChunkBytes;
    this.chunks = new SnapshotChunks((bufferedBytes) => {
      if (bufferedBytes > PAUSE_AT_CHUNKS * chunkBytes) call.pauseRequests();
      else if (bufferedBytes <= RESUME_AT_CHUNKS * chunkBytes) call.resumeRequests();
    });
  }

  start(): void {
    this.call.start({
      onMessage: (bytes) => this.receive(bytes),
      onRequestEnd: () => {
        if (this.stage !== "done") throw this.failed(new MessageCodecError("the InstallSnapshot stream ended before done", "done"));
      },
      onDrain: () => {},
      onClose: () => this.chunks.fail(new TransportError("the InstallSnapshot call ended before its data was complete", Code.Canceled)),
    });
  }

  private receive(bytes: Uint8Array): void {
    const part = decodeProto(InstallSnapshotRequestSchema, bytes).part;
    if (part.case === "header") {
      if (this.stage !== "header") throw this.failed(new MessageCodecError("a second header in one InstallSnapshot call", "header"));
      const link = this.ctx.claim(this.call, part.value.hello);
      if (part.value.message === undefined) throw this.failed(new MessageCodecError("the InstallSnapshot header carries no message", "header.message"));
      const message = messageFromProto(part.value.message);
      if (message.type !== "snapshot") throw this.failed(new MessageCodecError(`the InstallSnapshot header carries a ${message.type} message`, "header.message"));
      checkAddressing(message, link.id, this.ctx.identity.memberId);
      this.stage = "data";
      this.stageSnapshot(link, message);
      return;
    }
    if (this.stage !== "data") throw this.failed(new MessageCodecError(`${part.case ?? "an empty part"} out of place in an InstallSnapshot call`, "part"));
    if (part.case === "chunk") {
      this.receivedBytes += part.value.length;
      this.checksum = crc32c(part.value, this.checksum);
      this.chunks.push(part.value);
    } else if (part.case === "done") {
      this.stage = "done";
      const { totalBytes, crc32c: expectedChecksum } = part.value;
      if (totalBytes !== BigInt(this.receivedBytes) || expectedChecksum !== this.checksum) {
        throw this.failed(
          new TransportError(
            `the snapshot data does not match its totals: received ${this.receivedBytes} bytes with CRC-32C ${this.checksum}, expected ${totalBytes} with ${expectedChecksum}`,
            Code.DataLoss,
          ),
        );
      }
      this.chunks.end();
    } else {
      throw this.failed(new MessageCodecError("an InstallSnapshotRequest carries no part", "part"));
    }
  }

  private stageSnapshot(link: PeerLink, message: SnapshotMessage): void {
    const abort = (): void => {
      const err = this.failed(new TransportError(`a newer snapshot from member ${link.id} replaced this one`, Code.Aborted));
      this.call.finish(statusOf(err));
    };
    link.replaceSnapshotReceiver(abort);
    const staging = (async () => this.ctx.handlers.receiveSnapshot(message, this.chunks))();
    staging.then(
      () => {
        link.clearSnapshotReceiver(abort);
        if (!this.chunks.readToEnd) {
          this.call.finish({ code: Code.Internal, message: "the snapshot handler returned before reading all of the data" });
          return;
        }
        // Staged and checked against its totals: the core may install it, even if the caller is gone.
        link.countReceived(1);
        this.ctx.handlers.deliver(message);
        this.call.write(EMPTY_RESPONSE);
        this.call.finish(OK_STATUS);
      },
      (err: unknown) => {
        link.clearSnapshotReceiver(abort);
        this.call.finish(statusOf(err));
      },
    );
  }

  /** Makes the data iteration throw `err`; returns it, for the caller to throw (the call then ends with its status). */
  private failed(err: TransportError): TransportError {
    this.chunks.fail(err);
    return err;
  }
}
