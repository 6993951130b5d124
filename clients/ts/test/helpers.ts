/** Test helpers: bounded waits driven by events, never fixed sleeps. */
import type { EventEmitter } from "node:events";

/**
 * Resolves once `condition()` holds, checking it now and on every "change" event of `emitter`;
 * rejects naming `what` (and the last detail) after `timeoutMs`.
 */
export function waitFor(emitter: EventEmitter, condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  if (condition()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onChange = (): void => {
      if (!condition()) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      emitter.off("change", onChange);
    };
    emitter.on("change", onChange);
  });
}

/** `promise`, or a rejection naming `what` if it does not settle within `timeoutMs`. */
export async function within<T>(promise: Promise<T>, what: string, timeoutMs = 5_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise with its resolve function, for gates in fake hooks. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Takes `count` items from an async iterator, failing after `timeoutMs`. */
export async function take<T>(iterator: AsyncIterator<T>, count: number, what: string, timeoutMs = 5_000): Promise<T[]> {
  const items: T[] = [];
  for (let i = 0; i < count; i++) {
    const next = await within(iterator.next(), `${what} (item ${i + 1} of ${count})`, timeoutMs);
    if (next.done === true) throw new Error(`${what}: the iteration ended after ${i} of ${count} items`);
    items.push(next.value);
  }
  return items;
}
