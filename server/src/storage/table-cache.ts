/**
 * Open table readers by file number. A reader is opened on first use and closed when its file
 * becomes obsolete (no live version contains it), which is also the only time a file is
 * deleted; so a reader is never closed under an iterator that still reads it.
 */
import type { BlockCache } from "./block-cache.js";
import { tableFileName } from "./file-names.js";
import { SSTableReader } from "./sstable-reader.js";

export class TableCache {
  private readonly readers = new Map<number, SSTableReader>();
  bloomChecks = 0;
  bloomNegatives = 0;

  constructor(
    private readonly dir: string,
    private readonly blockCache: BlockCache | undefined,
  ) {}

  get(fileNumber: number): SSTableReader {
    let reader = this.readers.get(fileNumber);
    if (reader === undefined) {
      reader = SSTableReader.open(tableFileName(this.dir, fileNumber), fileNumber, this.blockCache);
      this.readers.set(fileNumber, reader);
    }
    return reader;
  }

  /** Closes the reader of a file that no version uses any more. */
  evict(fileNumber: number): void {
    const reader = this.readers.get(fileNumber);
    if (reader === undefined) return;
    this.bloomChecks += reader.bloomChecks;
    this.bloomNegatives += reader.bloomNegatives;
    reader.close();
    this.readers.delete(fileNumber);
    this.blockCache?.evictTable(fileNumber);
  }

  bloomStats(): { checks: number; negatives: number } {
    let checks = this.bloomChecks;
    let negatives = this.bloomNegatives;
    for (const r of this.readers.values()) {
      checks += r.bloomChecks;
      negatives += r.bloomNegatives;
    }
    return { checks, negatives };
  }

  close(): void {
    for (const n of [...this.readers.keys()]) this.evict(n);
  }
}
