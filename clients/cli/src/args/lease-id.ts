/** Lease IDs on the command line: hexadecimal, as etcdctl prints and reads them. */
import { UsageError } from "../errors.js";

const INT64_MAX = (1n << 63n) - 1n;

/** `text` (e.g. "694d7b5b3d6a1b0c", optionally 0x-prefixed) as a lease ID; UsageError when malformed. */
export function parseLeaseId(text: string): bigint {
  const digits = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]{1,16}$/.test(digits)) {
    throw new UsageError(`bad lease ID ${JSON.stringify(text)}: expected the ID in hexadecimal, e.g. 694d7b5b3d6a1b0c`);
  }
  const id = BigInt(`0x${digits}`);
  if (id > INT64_MAX) throw new UsageError(`bad lease ID ${JSON.stringify(text)}: above the largest lease ID 7fffffffffffffff`);
  return id;
}
