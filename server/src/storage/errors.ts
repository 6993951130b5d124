/**
 * Typed errors of the storage engine. Every error names what it is about (file, offset, key
 * length, option) so a person reading a log line can act on it; the API layer maps these
 * classes to RPC codes in one place.
 */

/** Base class: every error the engine throws on purpose is a StorageError. */
export class StorageError extends Error {
  override readonly name: string = "StorageError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The caller passed something the engine cannot accept (empty key, oversized value, wrong type). */
export class InvalidArgumentError extends StorageError {
  override readonly name = "InvalidArgumentError";
  constructor(
    message: string,
    readonly argument: string,
  ) {
    super(message);
  }
}

/** The engine (or a snapshot / iterator of it) was used after close() or release(). */
export class ClosedError extends StorageError {
  override readonly name = "ClosedError";
}

/** Another process (or another Engine in this process) holds the directory's LOCK file. */
export class LockedError extends StorageError {
  override readonly name = "LockedError";
  constructor(
    message: string,
    readonly dir: string,
    readonly holderPid: number | undefined,
  ) {
    super(message);
  }
}

/** Bytes on disk are not what was written: a checksum mismatch, a bad magic, an impossible length. */
export class CorruptionError extends StorageError {
  override readonly name = "CorruptionError";
  constructor(
    message: string,
    readonly file: string,
    readonly offset: number,
  ) {
    super(`${message} (file ${file}, offset ${offset})`);
  }
}

/**
 * A write could not be made durable (write or fsync failed). After an fsync failure the engine
 * refuses further writes: the kernel may have dropped the dirty pages, so retrying the fsync
 * could report success for data that is gone.
 */
export class IOError extends StorageError {
  override readonly name = "IOError";
  constructor(
    message: string,
    readonly file: string,
    options?: { cause?: unknown },
  ) {
    super(`${message} (file ${file})`, options);
  }
}
