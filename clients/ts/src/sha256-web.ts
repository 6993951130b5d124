/**
 * SHA-256 for browsers: WebCrypto has no incremental digest, so the chunks are kept and hashed
 * together at the end. Snapshots downloaded in a browser are held in memory anyway (to offer
 * them as a file).
 */
import type { Sha256 } from "./maintenance.js";

export function createWebSha256(): Sha256 {
  const chunks: Uint8Array[] = [];
  let length = 0;
  return {
    update: (chunk) => {
      chunks.push(chunk);
      length += chunk.length;
    },
    digest: async () => {
      const all = new Uint8Array(length);
      let offset = 0;
      for (const chunk of chunks) {
        all.set(chunk, offset);
        offset += chunk.length;
      }
      return new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", all));
    },
  };
}
