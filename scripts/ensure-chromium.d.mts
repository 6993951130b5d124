// Types of ensure-chromium.mjs, for the TypeScript tests that call it.

export declare const DEFAULT_CHROMIUM_PATH: string;
export declare const DEFAULT_INSTALL_TIMEOUT_MS: number;

export declare class ChromiumUnavailableError extends Error {}

export interface ChromiumBinary {
  executablePath: string;
  /** The first line of `chromium --version`. */
  version: string;
  /** How long installing it took; undefined when it was already there. */
  installedMs: number | undefined;
}

export interface EnsureChromiumOptions {
  /** Bounds the whole install (apt-get update included). Default 10 minutes. */
  timeoutMs?: number;
  /** Progress lines (what is being installed and why). */
  log?: (line: string) => void;
}

export declare function ensureChromium(options?: EnsureChromiumOptions): Promise<ChromiumBinary>;
