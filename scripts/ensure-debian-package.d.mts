// Types of ensure-debian-package.mjs, for the TypeScript code that calls it.

export declare const DEFAULT_INSTALL_TIMEOUT_MS: number;

export type DebianPackageUnavailableReason = "not-root" | "no-apt-get" | "install-failed" | "still-missing";

export declare class DebianPackageUnavailableError extends Error {
  readonly packageName: string;
  readonly binary: string;
  readonly reason: DebianPackageUnavailableReason;
}

export interface EnsureDebianPackageOptions {
  /** The Debian package that provides `binary`, e.g. "etcd-server". */
  packageName: string;
  /** An absolute path ("/usr/bin/etcd") or a name looked up on PATH ("h2load"). */
  binary: string;
  /** Bounds the whole install (apt-get update and the wait for a dpkg lock included). Default 10 minutes. */
  timeoutMs?: number;
  /** Progress lines (what is being installed and why). */
  log?: (line: string) => void;
  /** Start of each progress line, e.g. "ensure-chromium". */
  logPrefix?: string;
}

export interface DebianBinary {
  path: string;
  /** How long installing the package took; undefined when the binary was already there. */
  installedMs: number | undefined;
}

export declare function findBinary(binary: string): string | undefined;
export declare function ensureDebianPackage(options: EnsureDebianPackageOptions): DebianBinary;
export function isExecutable(file: string): boolean;
