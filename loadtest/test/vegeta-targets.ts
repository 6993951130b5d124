/**
 * Parses vegeta's HTTP target format (`vegeta attack -format http`, its default):
 *
 *   POST http://127.0.0.1:7379/sisyphus.kv.v1.KVService/Put     request line: METHOD URL
 *   Content-Type: application/json                              header lines: Name: value
 *   @loadtest/vegeta/put-body.json                              optional body file
 *
 * Targets are separated by blank lines; lines starting with # are comments. vegeta reads the
 * body file relative to the directory it runs in (the repository root for loadtest/vegeta).
 */
import fs from "node:fs";
import path from "node:path";

export interface VegetaTarget {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  bodyFile: string | undefined;
}

export class VegetaTargetError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
    this.name = "VegetaTargetError";
  }
}

export function readVegetaTargets(file: string, repoRoot: string): VegetaTarget[] {
  const lines = fs.readFileSync(file, "utf8").split("\n");
  const targets: VegetaTarget[] = [];
  let current: VegetaTarget | undefined;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const lineNumber = i + 1;
    if (line.startsWith("#")) return;
    if (line === "") {
      current = undefined;
      return;
    }
    if (current === undefined) {
      const match = /^([A-Z]+)\s+(\S+)$/.exec(line);
      if (match === null) throw new VegetaTargetError(file, lineNumber, `expected "METHOD URL", got ${JSON.stringify(line)}`);
      current = { method: match[1], url: match[2], headers: {}, body: Buffer.alloc(0), bodyFile: undefined };
      targets.push(current);
      return;
    }
    if (line.startsWith("@")) {
      current.bodyFile = line.slice(1);
      const bodyPath = path.resolve(repoRoot, current.bodyFile);
      if (!fs.existsSync(bodyPath)) throw new VegetaTargetError(file, lineNumber, `body file ${current.bodyFile} does not exist (relative to the repository root)`);
      current.body = fs.readFileSync(bodyPath);
      return;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw new VegetaTargetError(file, lineNumber, `expected a header "Name: value" or "@body-file", got ${JSON.stringify(line)}`);
    current.headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  });
  return targets;
}
