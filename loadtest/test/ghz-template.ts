/**
 * Renders the subset of ghz's call-data templates (Go text/template, see ghz's calldata docs)
 * that loadtest/ghz/*.json may use, so the replay test can send what ghz would send:
 *
 *   {{ .RequestNumber }}  {{ .WorkerID }}        fields of ghz's CallData
 *   randomInt MIN MAX     randomString N  newUUID   ghz's functions (seeded here)
 *   printf FORMAT ARGS    b64enc S                  Go / sprig functions (%d %0Nd %s %v %%)
 *
 * with pipelines (`a | b` passes a's result as b's last argument), integer literals, and
 * "quoted" or `raw` strings. Anything else (parentheses, variables, other functions) is a
 * TemplateError naming it: a config using it must either avoid it or teach this file, so the
 * replay never silently sends something other than what ghz would.
 *
 * ghz renders the JSON text of `data` (json.Marshal of the config's object), so a "double
 * quote" inside an action arrives escaped (\") and fails in ghz as it does here: use `raw`.
 */
import { randomUUID } from "node:crypto";
import { SeededRandom } from "../src/seeded-random.js";

export class TemplateError extends Error {
  constructor(
    readonly template: string,
    message: string,
  ) {
    super(`${message} in template ${JSON.stringify(template)}`);
    this.name = "TemplateError";
  }
}

export interface CallData {
  WorkerID: string;
  RequestNumber: number;
}

type Value = string | number;

const STRING_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

function goPrintf(template: string, format: string, args: Value[]): string {
  let next = 0;
  return format.replace(/%(0?)(\d*)([dsv%])/g, (_, zero: string, width: string, verb: string) => {
    if (verb === "%") return "%";
    if (next >= args.length) throw new TemplateError(template, `printf ${JSON.stringify(format)}: missing argument`);
    const arg = args[next++];
    if (verb === "d" && typeof arg !== "number") throw new TemplateError(template, `printf %d of a non-integer ${JSON.stringify(arg)}`);
    return String(arg).padStart(width === "" ? 0 : Number(width), zero === "0" ? "0" : " ");
  });
}

function tokenize(template: string, action: string): string[] {
  const tokens: string[] = [];
  const re = /("(?:[^"\\]|\\.)*"|`[^`]*`|\||[^\s|"`()]+)/y;
  let at = 0;
  // Bounded: every pass consumes at least one character or throws.
  while (at < action.length) {
    if (/\s/.test(action[at])) {
      at++;
      continue;
    }
    re.lastIndex = at;
    const match = re.exec(action);
    if (match === null) throw new TemplateError(template, `cannot parse ${JSON.stringify(action.slice(at))}`);
    tokens.push(match[1]);
    at = re.lastIndex;
  }
  return tokens;
}

export class GhzTemplate {
  constructor(private readonly random: SeededRandom) {}

  render(template: string, data: CallData): string {
    return template.replace(/\{\{(.*?)\}\}/gs, (_, action: string) => String(this.pipeline(template, action, data)));
  }

  private pipeline(template: string, action: string, data: CallData): Value {
    const tokens = tokenize(template, action);
    let result: Value | undefined;
    let command: string[] = [];
    const run = (): void => {
      if (command.length === 0) throw new TemplateError(template, "empty command");
      result = this.command(template, command, result, data);
      command = [];
    };
    for (const token of tokens) {
      if (token === "|") run();
      else command.push(token);
    }
    run();
    return result as Value;
  }

  private operand(template: string, token: string, data: CallData): Value {
    if (token.startsWith(".")) {
      const field = token.slice(1);
      if (field !== "WorkerID" && field !== "RequestNumber") throw new TemplateError(template, `unknown call data field ${token}`);
      return data[field];
    }
    if (/^-?\d+$/.test(token)) return Number(token);
    if (token.startsWith("`")) return token.slice(1, -1);
    if (token.startsWith('"')) return JSON.parse(token) as string;
    throw new TemplateError(template, `unsupported operand ${token}`);
  }

  private command(template: string, tokens: string[], piped: Value | undefined, data: CallData): Value {
    const [head, ...rest] = tokens;
    if (head.startsWith(".") || /^[-\d"`]/.test(head)) {
      if (rest.length > 0 || piped !== undefined) throw new TemplateError(template, `${head} takes no arguments`);
      return this.operand(template, head, data);
    }
    const args = rest.map((t) => this.operand(template, t, data));
    if (piped !== undefined) args.push(piped);
    const int = (i: number): number => {
      const v = args[i];
      if (typeof v !== "number") throw new TemplateError(template, `${head}: argument ${i + 1} must be an integer`);
      return v;
    };
    switch (head) {
      case "randomInt":
        return int(0) + this.random.nextInt(int(1) - int(0));
      case "randomString":
        return Array.from({ length: int(0) > 0 ? int(0) : 2 + this.random.nextInt(15) }, () => STRING_CHARS[this.random.nextInt(STRING_CHARS.length)]).join("");
      case "newUUID":
        return randomUUID();
      case "printf":
        return goPrintf(template, String(args[0]), args.slice(1));
      case "b64enc":
        return Buffer.from(String(args[0])).toString("base64");
      default:
        throw new TemplateError(template, `template function ${head} is not known to the replayer (loadtest/test/ghz-template.ts)`);
    }
  }
}
