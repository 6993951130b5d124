/** SHA-256 for Node: node:crypto's incremental hash (the browser entry must not import this file). */
import { createHash } from "node:crypto";
import type { Sha256 } from "./maintenance.js";

export function createNodeSha256(): Sha256 {
  const hash = createHash("sha256");
  return {
    update: (chunk) => {
      hash.update(chunk);
    },
    digest: () => Promise.resolve(new Uint8Array(hash.digest())),
  };
}
