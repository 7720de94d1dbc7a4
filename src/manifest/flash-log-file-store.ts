// A file store on raw flash, as an append-only log: each change (create, write, rename, remove,
// mkdir, journal save/clear) is one record programmed after the last, with a CRC; opening replays
// the records into memory. It is what lets the power-loss proof cut a file-set update at every flash
// operation: one store change is one flash program, and a torn program is a record whose CRC fails,
// skipped on replay (the change did not happen). No garbage collection: the partition must hold the
// records of the updates it sees between formats (the proof's few updates fit in 128 KiB).
import { OtaflashError } from '../errors';
import { crc32 } from '../hash/portable';
import { utf8Decode, utf8Encode } from '../formats/utf8';
import type { BlockDevice } from '../flash/types';
import type { FileStat, FileStore, JournalStore } from './file-store';
import { MemoryFileStore } from './memory-file-store';

const MAGIC = 0x4c;
/** Records start on this grain, so replay can look for the next one after a torn record. */
const GRAIN = 32;
const HEADER = 12;

const enum Kind {
  Create = 1,
  Write = 2,
  Rename = 3,
  Remove = 4,
  Mkdir = 5,
  JournalSave = 6,
  JournalClear = 7,
}

function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

/** Payload: a list of fields, each u32 length + bytes. */
function encodeFields(fields: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const f of fields) n += 4 + f.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const f of fields) {
    putU32(out, at, f.length);
    out.set(f, at + 4);
    at += 4 + f.length;
  }
  return out;
}

function decodeFields(p: Uint8Array): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < p.length) {
    if (at + 4 > p.length) return null;
    const n = u32(p, at);
    if (at + 4 + n > p.length) return null;
    out.push(p.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

function text(b: Uint8Array): string {
  const s = utf8Decode(b);
  if (s === null) throw new OtaflashError('FILE_LOG_INVALID', 'a file-log record holds a path that is not UTF-8');
  return s;
}

export class FlashLogFileStore implements FileStore {
  private readonly mirror = new MemoryFileStore();
  private journalData: Uint8Array | null = null;
  private end = 0;

  private constructor(private readonly device: BlockDevice) {}

  /** Erases the region (`device`, a partition view) and returns an empty store on it. */
  static format(device: BlockDevice): FlashLogFileStore {
    device.erase(0, device.size - (device.size % device.eraseSize));
    device.sync();
    return new FlashLogFileStore(device);
  }

  /** Replays the log on `device`: the store as the last complete records left it. */
  static open(device: BlockDevice): FlashLogFileStore {
    const s = new FlashLogFileStore(device);
    s.replay();
    return s;
  }

  private replay(): void {
    const size = this.device.size;
    // Everything after the last programmed byte is erased: that is where appends go.
    const probe = new Uint8Array(4096);
    let last = -1;
    for (let at = 0; at < size; at += probe.length) {
      const n = Math.min(probe.length, size - at);
      this.device.read(at, probe.subarray(0, n));
      for (let i = n - 1; i >= 0; i--) {
        if (probe[i] !== this.device.eraseValue) {
          last = at + i;
          break;
        }
      }
    }
    const head = new Uint8Array(HEADER);
    let pos = 0;
    while (pos <= last) {
      this.device.read(pos, head);
      const len = u32(head, 4);
      const ok = head[0] === MAGIC && len <= size - pos - HEADER;
      if (ok) {
        const payload = new Uint8Array(len);
        this.device.read(pos + HEADER, payload);
        const check = crc32(payload, crc32(head.subarray(0, 8)));
        if (check === u32(head, 8)) {
          this.apply(head[1], payload);
          pos = roundUp(pos + HEADER + len, GRAIN);
          continue;
        }
      }
      // A torn record (a program cut by a power loss): it never happened; look for the next one.
      pos += GRAIN;
    }
    this.end = roundUp(last + 1, GRAIN);
  }

  private apply(kind: number, payload: Uint8Array): void {
    const f = decodeFields(payload);
    if (f === null) throw new OtaflashError('FILE_LOG_INVALID', 'a file-log record with a good CRC has bad fields');
    const m = this.mirror;
    switch (kind) {
      case Kind.Create:
        return m.create(text(f[0]));
      case Kind.Write:
        return m.write(text(f[0]), u32(f[1], 0), f[2].slice());
      case Kind.Rename:
        return m.rename(text(f[0]), text(f[1]));
      case Kind.Remove:
        return m.remove(text(f[0]));
      case Kind.Mkdir:
        return m.mkdir(text(f[0]));
      case Kind.JournalSave:
        this.journalData = f[0].slice();
        return;
      case Kind.JournalClear:
        this.journalData = null;
        return;
      default:
        throw new OtaflashError('FILE_LOG_INVALID', `unknown file-log record kind ${kind}`);
    }
  }

  /** Applies one change to the mirror, then programs its record after the last. */
  private append(kind: Kind, fields: Uint8Array[]): void {
    const payload = encodeFields(fields);
    const total = roundUp(HEADER + payload.length, Math.max(1, this.device.writeSize));
    if (this.end + total > this.device.size) {
      throw new OtaflashError('FILE_LOG_FULL', `the file log is full (${this.end} of ${this.device.size} bytes used; format it)`);
    }
    const rec = new Uint8Array(total);
    rec.fill(this.device.eraseValue);
    rec[0] = MAGIC;
    rec[1] = kind;
    rec[2] = 0;
    rec[3] = 0;
    putU32(rec, 4, payload.length);
    putU32(rec, 8, crc32(payload, crc32(rec.subarray(0, 8))));
    rec.set(payload, HEADER);
    // The mirror first: a change it refuses (a missing directory) writes nothing to flash. After a
    // power cut during the program the mirror is ahead of the flash, but the store is reopened
    // (replayed) after every cut anyway.
    this.apply(kind, payload);
    this.device.write(this.end, rec);
    this.end = roundUp(this.end + total, GRAIN);
  }

  stat(path: string): FileStat | null {
    return this.mirror.stat(path);
  }

  read(path: string, offset: number, into: Uint8Array): number {
    return this.mirror.read(path, offset, into);
  }

  create(path: string): void {
    this.append(Kind.Create, [utf8Encode(path)]);
  }

  write(path: string, offset: number, data: Uint8Array): void {
    const off = new Uint8Array(4);
    putU32(off, 0, offset);
    this.append(Kind.Write, [utf8Encode(path), off, data]);
  }

  rename(from: string, to: string): void {
    this.append(Kind.Rename, [utf8Encode(from), utf8Encode(to)]);
  }

  remove(path: string): void {
    if (this.mirror.stat(path) === null) return;
    this.append(Kind.Remove, [utf8Encode(path)]);
  }

  list(dir: string): string[] {
    return this.mirror.list(dir);
  }

  mkdir(path: string): void {
    const st = this.mirror.stat(path);
    if (st !== null && st.kind === 'dir') return;
    this.append(Kind.Mkdir, [utf8Encode(path)]);
  }

  /** Every record is durable once programmed; a sync is the device's. */
  sync(): void {
    this.device.sync();
  }

  journal(): JournalStore {
    return {
      load: () => (this.journalData === null ? null : this.journalData.slice()),
      save: (data) => this.append(Kind.JournalSave, [data]),
      clear: () => {
        if (this.journalData !== null) this.append(Kind.JournalClear, []);
      },
    };
  }

  /** Every file with its content (for checks). */
  snapshot(): Map<string, Uint8Array> {
    return this.mirror.snapshot();
  }
}
