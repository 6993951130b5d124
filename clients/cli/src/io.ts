/**
 * Where a run of the CLI reads and writes: the process's streams and signals in the bin, and
 * the same interface in tests that call main() in-process.
 */
export interface Io {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  readonly env: NodeJS.ProcessEnv;
  /** Calls `handler` on Ctrl-C (SIGINT) instead of exiting, until the returned function is called. */
  onInterrupt(handler: () => void): () => void;
}

/** The Io of the running process. */
export function processIo(): Io {
  // A closed pipe (`sisyphusctl get --prefix "" | head -1`) is the reader's choice, not an
  // error of the command: stop writing quietly instead of crashing with EPIPE.
  const ignoreClosedPipe = (err: NodeJS.ErrnoException): void => {
    if (err.code !== "EPIPE") throw err;
  };
  process.stdout.on("error", ignoreClosedPipe);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    onInterrupt(handler) {
      process.on("SIGINT", handler);
      return () => process.off("SIGINT", handler);
    },
  };
}

/** Writes text and raw bytes to a stream, line by line. */
export class Output {
  constructor(private readonly stream: NodeJS.WritableStream) {}

  /** Writes `text` as it is. */
  write(text: string | Uint8Array): void {
    this.stream.write(text);
  }

  /** Writes `text` (a string, or raw bytes written unchanged) and a newline. */
  line(text: string | Uint8Array = ""): void {
    if (typeof text === "string") {
      this.stream.write(`${text}\n`);
      return;
    }
    this.stream.write(text);
    this.stream.write("\n");
  }
}

/** Everything `stream` delivers until its end. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}
