/**
 * The arguments of the membership commands: member IDs (hexadecimal, as `member list` prints
 * them and etcdctl reads them), a new member's name and its peer URLs. Each parser throws a
 * UsageError naming what is wrong.
 */
import { UsageError } from "../errors.js";

/** `text` (e.g. "8e9e05c52164694d", optionally 0x-prefixed) as a member ID: a non-zero uint64 (at most 16 hex digits). */
export function parseMemberId(text: string): bigint {
  const digits = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text;
  if (!/^[0-9a-fA-F]{1,16}$/.test(digits)) {
    throw new UsageError(`bad member ID ${JSON.stringify(text)}: expected the ID in hexadecimal, as "member list" prints it, e.g. 8e9e05c52164694d`);
  }
  const id = BigInt(`0x${digits}`);
  if (id === 0n) throw new UsageError(`bad member ID ${JSON.stringify(text)}: no member has ID 0`);
  return id;
}

/**
 * A new member's name. It goes into `--initial-cluster name=url,...` and onto a command line,
 * so it may not hold "=", "," or white space (the server would split on them).
 */
export function parseMemberName(text: string): string {
  if (text === "") throw new UsageError("bad member name \"\": it may not be empty");
  if (/[=,\s]/.test(text)) throw new UsageError(`bad member name ${JSON.stringify(text)}: it may not contain "=", "," or white space`);
  return text;
}

/**
 * --peer-urls "http://a:7380,http://b:7380": each an http(s) URL with a host and a port and no
 * path, query or fragment; returned as their origins (the form the server stores and the new
 * member must advertise). UsageError when missing, malformed or listed twice.
 */
export function parsePeerUrls(text: string | undefined): string[] {
  if (text === undefined || text.trim() === "") throw new UsageError("member add needs --peer-urls, e.g. --peer-urls=http://10.0.0.4:7380");
  const origins: string[] = [];
  for (const raw of text.split(",").map((s) => s.trim())) {
    const bad = (why: string): UsageError => new UsageError(`bad peer URL ${JSON.stringify(raw)}: ${why}`);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw bad("expected http(s)://host:port");
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw bad("expected http(s)://host:port");
    // The server refuses a URL without a port, and URL drops the scheme's default port (80, 443).
    if (url.port === "") throw bad("it needs a port other than the scheme's default, e.g. http://10.0.0.4:7380");
    if (url.pathname !== "/" || url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") throw bad("it may have no path, query, fragment or user");
    if (origins.includes(url.origin)) throw bad("listed twice");
    origins.push(url.origin);
  }
  return origins;
}
