/**
 * Version edits: the records of the manifest. A version (which tables make up each level) is
 * the result of applying every edit in a manifest, in order, to an empty version.
 *
 * Encoding: a sequence of tagged fields, each `varint tag | fields`:
 *   1 logNumber       varint            WAL files numbered below this are no longer needed
 *   2 nextFileNumber  varint            every file number in use is below this
 *   3 lastSequence    varint            highest sequence number in any table
 *   4 compactPointer  varint level | varint n | n key bytes (internal key)
 *   5 deletedFile     varint level | varint fileNumber
 *   6 newFile         varint level | varint fileNumber | varint fileSize |
 *                     varint n | n bytes smallest internal key | varint m | m bytes largest |
 *                     varint smallestSeq | varint largestSeq
 * Unknown tags are corruption: a newer format must not be read as an older one.
 */
import { ByteReader, putVarint, varintLength } from "./coding.js";
import { CorruptionError } from "./errors.js";

export interface FileMeta {
  number: number;
  size: number;
  /** Encoded internal keys (user key ++ trailer) of the first and last entry. */
  smallest: Buffer;
  largest: Buffer;
  smallestSeq: number;
  largestSeq: number;
}

export interface NewFile {
  level: number;
  file: FileMeta;
}

export interface VersionEdit {
  logNumber?: number;
  nextFileNumber?: number;
  lastSequence?: number;
  compactPointers: { level: number; key: Buffer }[];
  deletedFiles: { level: number; number: number }[];
  newFiles: NewFile[];
}

export function emptyEdit(): VersionEdit {
  return { compactPointers: [], deletedFiles: [], newFiles: [] };
}

const enum Tag {
  LogNumber = 1,
  NextFileNumber = 2,
  LastSequence = 3,
  CompactPointer = 4,
  DeletedFile = 5,
  NewFile = 6,
}

export function encodeEdit(edit: VersionEdit): Buffer {
  const parts: Buffer[] = [];
  const num = (v: number): void => {
    const b = Buffer.allocUnsafe(varintLength(v));
    putVarint(b, 0, v);
    parts.push(b);
  };
  const bytes = (b: Uint8Array): void => {
    num(b.length);
    parts.push(Buffer.from(b));
  };
  const field = (tag: Tag, write: () => void): void => {
    num(tag);
    write();
  };
  if (edit.logNumber !== undefined) field(Tag.LogNumber, () => num(edit.logNumber!));
  if (edit.nextFileNumber !== undefined) field(Tag.NextFileNumber, () => num(edit.nextFileNumber!));
  if (edit.lastSequence !== undefined) field(Tag.LastSequence, () => num(edit.lastSequence!));
  for (const p of edit.compactPointers) {
    field(Tag.CompactPointer, () => {
      num(p.level);
      bytes(p.key);
    });
  }
  for (const d of edit.deletedFiles) {
    field(Tag.DeletedFile, () => {
      num(d.level);
      num(d.number);
    });
  }
  for (const { level, file } of edit.newFiles) {
    field(Tag.NewFile, () => {
      num(level);
      num(file.number);
      num(file.size);
      bytes(file.smallest);
      bytes(file.largest);
      num(file.smallestSeq);
      num(file.largestSeq);
    });
  }
  return Buffer.concat(parts);
}

/** Decodes one edit; `file` and `offset` name the manifest record for error messages. */
export function decodeEdit(record: Uint8Array, file: string, offset: number): VersionEdit {
  const edit = emptyEdit();
  const r = new ByteReader(record);
  const bad = (what: string): never => {
    throw new CorruptionError(`malformed manifest record: ${what}`, file, offset);
  };
  const num = (what: string): number => {
    const v = r.varint();
    return v < 0 ? bad(what) : v;
  };
  const bytes = (what: string): Buffer => {
    const n = num(what);
    if (n > r.remaining()) bad(what);
    const b = Buffer.from(record.subarray(r.offset, r.offset + n));
    r.offset += n;
    return b;
  };
  while (r.remaining() > 0) {
    const tag = num("tag");
    switch (tag) {
      case Tag.LogNumber:
        edit.logNumber = num("log number");
        break;
      case Tag.NextFileNumber:
        edit.nextFileNumber = num("next file number");
        break;
      case Tag.LastSequence:
        edit.lastSequence = num("last sequence");
        break;
      case Tag.CompactPointer:
        edit.compactPointers.push({ level: num("compact pointer level"), key: bytes("compact pointer key") });
        break;
      case Tag.DeletedFile:
        edit.deletedFiles.push({ level: num("deleted file level"), number: num("deleted file number") });
        break;
      case Tag.NewFile: {
        const level = num("new file level");
        const file: FileMeta = {
          number: num("new file number"),
          size: num("new file size"),
          smallest: bytes("new file smallest key"),
          largest: bytes("new file largest key"),
          smallestSeq: num("new file smallest seq"),
          largestSeq: num("new file largest seq"),
        };
        edit.newFiles.push({ level, file });
        break;
      }
      default:
        bad(`unknown tag ${tag}`);
    }
  }
  return edit;
}
