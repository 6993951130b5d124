/** The HTTP/2 :path of each RaftService method (gRPC: /package.Service/Method). */
import { RaftService } from "../../../gen/sisyphus/raft/v1/raft_pb.js";

export type RaftMethod = keyof typeof RaftService.method;

function pathOf(method: RaftMethod): string {
  return `/${RaftService.typeName}/${RaftService.method[method].name}`;
}

export const RAFT_PATHS: Readonly<Record<RaftMethod, string>> = {
  append: pathOf("append"),
  vote: pathOf("vote"),
  installSnapshot: pathOf("installSnapshot"),
  timeoutNow: pathOf("timeoutNow"),
  forward: pathOf("forward"),
};

const METHOD_BY_PATH = new Map<string, RaftMethod>(Object.entries(RAFT_PATHS).map(([method, path]) => [path, method as RaftMethod]));

/** The method `path` names, undefined if it is not a RaftService path. */
export function raftMethodAt(path: string): RaftMethod | undefined {
  return METHOD_BY_PATH.get(path);
}
