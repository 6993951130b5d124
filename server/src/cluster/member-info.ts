/**
 * What a membership change entry carries about the member (the ConfChange context, opaque to
 * the Raft core): its name and peer URLs, as UTF-8 JSON {"name": "...", "peerUrls": ["..."]}.
 * JSON because it is rare, small, and readable when debugging a log.
 */
import { RaftError } from "../raft/index.js";

export interface MemberInfo {
  name: string;
  peerUrls: string[];
}

export function encodeMemberInfo(info: MemberInfo): Uint8Array {
  return Buffer.from(JSON.stringify({ name: info.name, peerUrls: info.peerUrls }), "utf8");
}

export function decodeMemberInfo(context: Uint8Array): MemberInfo {
  try {
    const parsed = JSON.parse(Buffer.from(context).toString("utf8")) as { name?: unknown; peerUrls?: unknown };
    if (typeof parsed.name !== "string" || !Array.isArray(parsed.peerUrls) || !parsed.peerUrls.every((u) => typeof u === "string")) {
      throw new Error("expected {name: string, peerUrls: string[]}");
    }
    return { name: parsed.name, peerUrls: parsed.peerUrls as string[] };
  } catch (err) {
    throw new RaftError(`undecodable member description in a membership change: ${(err as Error).message}`);
  }
}
