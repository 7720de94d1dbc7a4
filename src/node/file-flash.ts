import * as fs from 'node:fs';
import { OtaflashError, hex } from '../errors';
import { checkBytes, checkErase, checkRange, checkWrite, resolveGeometry } from '../flash/checks';
import { ErasedMap } from '../flash/erased-map';
import type { ProgramMode } from '../flash/memory';
import type { BlockDevice, FlashGeometry } from '../flash/types';

export interface FileFlashOptions extends Partial<FlashGeometry> {
  /**
   * 'never' (default): the file must exist; its length is the device size (and must equal `size` if given).
   * 'if-missing': create a `size`-byte file filled with the erase value when there is none.
   * 'always': (re)create it, erased, even if it exists.
   */
  create?: 'never' | 'if-missing' | 'always';
  /** 'strict' (default) throws FLASH_WRITE_NOT_ERASED on a 0->1 program; 'nor' stores old AND new. */
  mode?: ProgramMode;
  /** Open the file read-only: write/erase throw FLASH_READ_ONLY and the file is never modified. */
  readOnly?: boolean;
}

const ERASE_CHUNK = 1 << 20;

/**
 * A flash image file as a block device: synchronous positional I/O on a descriptor kept open
 * until `close()`, NOR semantics, `sync()` = fsync.
 *
 * To keep NOR checks from costing a read before every write, the driver remembers per sector
 * the offset from which the sector is known to be erased (because this driver erased it or
 * created the file). A write that lands entirely in known-erased space is written straight
 * through; any other write reads the old bytes first. Bytes changed by another writer of the
 * same file while it is open are not noticed.
 */
export class FileFlash implements BlockDevice {
  readonly size: number;
  readonly eraseSize: number;
  readonly writeSize: number;
  readonly eraseValue: number;
  readonly blockEraseSizes?: readonly number[];
  readonly mode: ProgramMode;
  readonly path: string;
  readonly readOnly: boolean;
  /** Writes that had to read the old bytes first (the rest went straight into known-erased space). */
  readsBeforeWrite = 0;
  private fd: number;
  private readonly sectorShift: number;
  /** What is known erased, so writes there skip the read-before-write. */
  private readonly erased: ErasedMap;
  private scratch: Uint8Array = new Uint8Array(0);
  private erasedChunk: Uint8Array | null = null;

  constructor(path: string, opts: FileFlashOptions = {}) {
    this.path = path;
    const create = opts.create ?? 'never';
    if (create !== 'never' && create !== 'if-missing' && create !== 'always') {
      throw new OtaflashError('FLASH_BAD_ARGUMENT', `create must be 'never', 'if-missing' or 'always', not ${String(create)}`);
    }
    if (typeof path !== 'string' || path === '') {
      throw new OtaflashError('FLASH_BAD_ARGUMENT', `a flash image path must be a non-empty string, not ${typeof path === 'string' ? "''" : typeof path}`);
    }
    this.readOnly = opts.readOnly === true;
    if (this.readOnly && create !== 'never') {
      throw new OtaflashError('FLASH_BAD_ARGUMENT', `a read-only flash image cannot be created (${path})`, { path });
    }
    const exists = fs.existsSync(path);
    const fresh = create === 'always' || (create === 'if-missing' && !exists);
    let size = opts.size;
    if (!fresh) {
      if (!exists) throw new OtaflashError('FLASH_FILE_MISSING', `flash image ${path} does not exist (pass create: 'if-missing' to make one)`, { path });
      const st = fileOp(path, 'stat', () => fs.statSync(path));
      if (!st.isFile()) throw new OtaflashError('FLASH_FILE_NOT_REGULAR', `flash image ${path} is not a regular file`, { path });
      const fileSize = st.size;
      if (size !== undefined && size !== fileSize) {
        throw new OtaflashError('FLASH_BAD_GEOMETRY', `flash image ${path} is ${fileSize} bytes, expected ${size}`, { path, fileSize, size });
      }
      size = fileSize;
    } else if (size === undefined) {
      throw new OtaflashError('FLASH_BAD_GEOMETRY', `creating ${path} needs a size`, { path });
    }
    const g = resolveGeometry({ ...opts, size });
    this.size = g.size;
    this.eraseSize = g.eraseSize;
    this.writeSize = g.writeSize;
    this.eraseValue = g.eraseValue;
    this.blockEraseSizes = g.blockEraseSizes;
    this.mode = g.mode;
    this.sectorShift = g.sectorShift;
    this.erased = new ErasedMap(this.size / this.eraseSize, this.eraseSize, this.sectorShift, fresh);
    this.fd = fileOp(path, 'open', () => fs.openSync(path, fresh ? 'w+' : this.readOnly ? 'r' : 'r+'));
    if (fresh) {
      try {
        this.fillErased(0, this.size);
        fs.fsyncSync(this.fd);
      } catch (e) {
        fs.closeSync(this.fd);
        throw e;
      }
    }
  }

  /** Opens an existing image; its length is the device size. */
  static open(path: string, opts: Omit<FileFlashOptions, 'create'> = {}): FileFlash {
    return new FileFlash(path, { ...opts, create: 'never' });
  }

  /** Creates (or replaces) an erased image of `size` bytes. */
  static create(path: string, size: number, opts: Omit<FileFlashOptions, 'size' | 'create'> = {}): FileFlash {
    return new FileFlash(path, { ...opts, size, create: 'always' });
  }

  /** Opens an existing image, or creates an erased one of `size` bytes. */
  static openOrCreate(path: string, size: number, opts: Omit<FileFlashOptions, 'size' | 'create'> = {}): FileFlash {
    return new FileFlash(path, { ...opts, size, create: 'if-missing' });
  }

  read(offset: number, into: Uint8Array): void {
    checkBytes('read', into);
    checkRange(this, 'read', offset, into.length);
    this.readAt(offset, into);
  }

  write(offset: number, data: Uint8Array): void {
    checkBytes('write', data);
    checkWrite(this, offset, data.length);
    this.checkWritable('write');
    const len = data.length;
    if (len === 0) return;
    if (this.erased.covers(offset, len)) {
      this.writeAt(offset, data);
    } else {
      const old = this.scratchOf(len);
      this.readAt(offset, old);
      this.readsBeforeWrite++;
      if (this.mode === 'strict') {
        for (let i = 0; i < len; i++) {
          if ((data[i] & ~old[i]) !== 0) {
            throw new OtaflashError(
              'FLASH_WRITE_NOT_ERASED',
              `write at ${hex(offset + i)} of ${this.path} would change bits from 0 to 1 (stored ${hex(old[i])}, new ${hex(data[i])}): erase first`,
              { offset: offset + i, stored: old[i], data: data[i] },
            );
          }
        }
        this.writeAt(offset, data);
      } else {
        for (let i = 0; i < len; i++) old[i] &= data[i];
        this.writeAt(offset, old);
      }
    }
    this.erased.programmed(offset, len);
  }

  erase(offset: number, length: number): void {
    checkErase(this, offset, length);
    this.checkWritable('erase');
    this.fillErased(offset, length);
  }

  sync(): void {
    this.checkOpen();
    if (!this.readOnly) fileOp(this.path, 'fsync', () => fs.fsyncSync(this.fd));
  }

  /** Closes the descriptor; later calls throw FLASH_CLOSED. Idempotent. */
  close(): void {
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }

  private checkWritable(op: string): void {
    if (this.readOnly) throw new OtaflashError('FLASH_READ_ONLY', `${op} refused: flash image ${this.path} was opened read-only`, { path: this.path });
  }

  private checkOpen(): void {
    if (this.fd < 0) throw new OtaflashError('FLASH_CLOSED', `flash image ${this.path} is closed`, { path: this.path });
  }

  private readAt(offset: number, into: Uint8Array): void {
    this.checkOpen();
    let done = 0;
    // One try around the loop, no closure per call: this is the read path of every operation.
    try {
      while (done < into.length) {
        const n = fs.readSync(this.fd, into, done, into.length - done, offset + done);
        if (n === 0) {
          throw new OtaflashError('FLASH_FILE_SHORT', `flash image ${this.path} ends at ${hex(offset + done)}, before the device end ${hex(this.size)}`, { path: this.path });
        }
        done += n;
      }
    } catch (e) {
      throw fileError(this.path, 'read', e);
    }
  }

  private writeAt(offset: number, data: Uint8Array): void {
    this.checkOpen();
    let done = 0;
    try {
      while (done < data.length) done += fs.writeSync(this.fd, data, done, data.length - done, offset + done);
    } catch (e) {
      throw fileError(this.path, 'write', e);
    }
  }

  private fillErased(offset: number, length: number): void {
    if (length === 0) return;
    if (!this.erasedChunk) {
      this.erasedChunk = new Uint8Array(Math.min(ERASE_CHUNK, this.size));
      this.erasedChunk.fill(this.eraseValue);
    }
    const chunk = this.erasedChunk;
    for (let p = offset; p < offset + length; p += chunk.length) {
      this.writeAt(p, chunk.subarray(0, Math.min(chunk.length, offset + length - p)));
    }
    this.erased.erased(offset >>> this.sectorShift, (offset + length) >>> this.sectorShift);
  }

  private scratchOf(n: number): Uint8Array {
    if (this.scratch.length < n) this.scratch = new Uint8Array(Math.max(n, 2 * this.scratch.length));
    return this.scratch.subarray(0, n);
  }
}

/** Runs a file-system call, turning its Node error (EISDIR, EACCES, ENOSPC...) into an OtaflashError. */
function fileOp<T>(path: string, op: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fileError(path, op, e);
  }
}

function fileError(path: string, op: string, e: unknown): OtaflashError {
  if (e instanceof OtaflashError) return e;
  const code = (e as { code?: string }).code ?? 'unknown';
  const msg = e instanceof Error ? e.message : String(e);
  return new OtaflashError('FLASH_FILE_IO', `${op} of flash image ${path} failed: ${msg}`, { path, op, errno: code });
}
