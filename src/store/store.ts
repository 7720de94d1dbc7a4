/**
 * An image store on any block device (an SPI NOR chip of its own, or a data partition through
 * RegionFlash): several images, each in its own run of sectors with a header, state marks and a
 * received-chunk bitmap (layout.ts, docs/store.md). All state lives on flash: `ImageStore.open()`
 * rebuilds the store after any power cut.
 *
 * Power-cut rules, each a program that only clears bits, made after what it claims is durable:
 *  - create: the extent is erased (sectors that do not read blank), synced; the record is
 *    programmed, synced and read back; only then the commit marker. A cut before the marker leaves
 *    a sector that is not an image (free space, erased again by the next create).
 *  - writeChunk: the chunk's bytes are programmed and synced before its bitmap bit is cleared, so a
 *    set bit never claims bytes that are not there; a torn chunk is simply missing.
 *  - states: one mark per state, each programmed after the fact it records (every chunk stored, the
 *    hash checked, the install started or done); a torn mark is not set, so the image keeps its old state.
 *  - remove: the 'removed' mark first (the header stays valid, so its data sectors are never scanned
 *    as free space), then the data sectors are erased, then the magic is zeroed (so no half-erased
 *    header sector can come back as a valid header over erased data), then the header sector is
 *    erased. open() finishes a removal it finds.
 */
import { OtaflashError, hex, kindOf } from '../errors';
import { isBlockDevice } from '../flash/checks';
import type { BlockDevice } from '../flash/types';
import { defaultHashes } from '../hash/portable';
import type { HashProvider, IncrementalHash } from '../hash/types';
import {
  type ExtentLayout,
  type HeaderRecord,
  MARK,
  MARK_COUNT,
  checkName,
  checkGeometry,
  checkRecordFits,
  decodeRecord,
  encodeRecord,
  extentLayout,
  isSet,
  log2Exact,
  programUnit,
  roundUp,
} from './layout';
import { type InstallOptions, type InstallResult, installImage } from './install';
import type { OtaEngine } from '../ota/engine';
import { type CreateImageOptions, IMAGE_KIND_CODES, type ImageState, type StoredImage } from './types';
import { toHex } from '../formats/bytes';

export interface ImageStoreOptions {
  hashes?: HashProvider;
  /**
   * Chunks whose bitmap bits may wait in RAM before they are programmed (default 1: every
   * writeChunk() is on flash, bit included, when it returns). With N > 1 the store syncs and
   * programs the bits of up to N chunks at once (in-order chunks share a bitmap byte, so this is one
   * small program per 8 chunks instead of one per chunk, and one sync): a power cut may then lose up
   * to N chunks already accepted, which are simply missing after open() and sent again; a bit is
   * still never programmed before its chunk's bytes are synced. complete(), sync() and
   * flush() program what is pending.
   */
  flushChunks?: number;
}

export interface CreateOptions {
  /**
   * When no free run of sectors fits: remove images the policy allows, oldest first, until one does
   * (nothing is removed when even that would not make room). The policy: failed images (lowest
   * seq first), then installed images that are not the newest installed image of their component
   * (lowest seq first). Images still receiving, complete, verified or installing, and the newest
   * installed image of each component, are never evicted.
   */
  evict?: boolean;
}

/** Free space, in sectors of the device. */
export interface StoreSpace {
  readonly sectors: number;
  readonly freeSectors: number;
  readonly largestFreeSectors: number;
  readonly eraseSize: number;
}

/** One image as the store keeps it in RAM: its record and a copy of its marks and bitmap. */
interface Entry {
  rec: HeaderRecord;
  at: number;
  layout: ExtentLayout;
  marks: boolean[];
  bitmap: Uint8Array;
  stored: number;
  /** Every missing chunk's bytes are known erased (created by this object, nothing failed since). */
  clean: boolean;
  /** Bitmap bytes cleared in RAM whose bits are not yet programmed (flushChunks > 1), ascending when flushed. */
  pendingBytes: number[];
  pendingChunks: number;
  /** Device offset of the data area (chunk 0). */
  dataAt: number;
}

/** A run of sectors set aside for an image being created, erased a step at a time. */
export interface Reservation {
  readonly at: number;
  readonly sectors: number;
  /** Sectors from `at` known erased so far. */
  prepared: number;
  readonly rec: HeaderRecord;
  readonly layout: ExtentLayout;
  /** @internal */
  done: boolean;
}

const READ_PIECE = 4096;

function isU32(v: unknown): v is number {
  return typeof v === 'number' && v >= 0 && v <= 0xffffffff && v === Math.floor(v);
}

/** The state the marks record; 'complete' also when every chunk is stored but a cut came before its mark. */
function stateOf(e: Entry): ImageState {
  const marks = e.marks;
  if (marks[MARK.failed]) return 'failed';
  if (marks[MARK.installed]) return 'installed';
  if (marks[MARK.installing]) return 'installing';
  if (marks[MARK.verified]) return 'verified';
  if (marks[MARK.complete] || e.stored === e.layout.chunks) return 'complete';
  return 'receiving';
}

function countStored(bitmap: Uint8Array, chunks: number): number {
  let n = 0;
  for (let i = 0; i < chunks; i++) if ((bitmap[i >> 3] & (1 << (i & 7))) === 0) n++;
  return n;
}

export class ImageStore {
  readonly device: BlockDevice;
  readonly hashes: HashProvider;
  readonly unit: number;
  private readonly sectorCount: number;
  private readonly entries: Entry[] = [];
  private readonly reservations: Reservation[] = [];
  private readonly zeroUnit: Uint8Array;
  /** One reusable buffer for blank checks and compares (allocating one per sector or chunk dominated the cost). */
  private scratchBuf: Uint8Array = new Uint8Array(0);
  /**
   * Sectors this object erased itself that no extent has claimed since: create() needs no blank
   * check there. Starts empty at open(), so after a reset every sector is checked once.
   */
  private readonly knownErased: Uint8Array;
  private lastEntry: Entry | null = null;
  private readonly unitBuf: Uint8Array;

  private readonly flushChunks: number;

  private constructor(device: BlockDevice, hashes: HashProvider, flushChunks: number) {
    this.device = device;
    this.hashes = hashes;
    this.flushChunks = flushChunks;
    this.unit = programUnit(device);
    this.sectorCount = Math.floor(device.size / device.eraseSize);
    this.zeroUnit = new Uint8Array(this.unit);
    this.knownErased = new Uint8Array(this.sectorCount);
    this.unitBuf = new Uint8Array(this.unit);
  }

  /**
   * Reads the store from the device (an erased device is an empty store) and finishes any removal
   * a power cut interrupted. Throws STORE_GEOMETRY_MISMATCH for a store written with another
   * program unit or sector size, STORE_CORRUPT for a valid header that describes no possible image.
   */
  static open(device: BlockDevice, opts: ImageStoreOptions = {}): ImageStore {
    if (!isBlockDevice(device)) throw new OtaflashError('STORE_BAD_ARGUMENT', `ImageStore.open: expected a block device, got ${kindOf(device)}`);
    if (opts === null || typeof opts !== 'object') throw new OtaflashError('STORE_BAD_ARGUMENT', `ImageStore.open: options must be an object, got ${kindOf(opts)}`);
    if (log2Exact(device.eraseSize) < 0 || programUnit(device) > 255 || device.eraseSize % programUnit(device) !== 0) {
      throw new OtaflashError('STORE_BAD_GEOMETRY', `an image store needs a power-of-two sector size and a program unit of at most 255 bytes dividing it; the device has ${device.eraseSize} and ${device.writeSize}`);
    }
    const fc = opts.flushChunks ?? 1;
    if (!(typeof fc === 'number' && fc >= 1 && fc === Math.floor(fc))) throw new OtaflashError('STORE_BAD_ARGUMENT', `ImageStore.open: flushChunks must be a whole number >= 1, got ${String(opts.flushChunks)}`);
    const store = new ImageStore(device, opts.hashes ?? defaultHashes(), fc);
    store.scan();
    return store;
  }

  private scan(): void {
    const dev = this.device;
    const es = dev.eraseSize;
    const probe = extentLayout(this.unit, es, 1, this.unit);
    const head = new Uint8Array(probe.bitmapAt);
    let s = 0;
    while (s < this.sectorCount) {
      const at = s * es;
      dev.read(at, head);
      const rec = decodeRecord(head, this.hashes);
      if (rec === null) {
        s++;
        continue;
      }
      // Geometry before the commit marker: the marker's place depends on the unit the record names,
      // and a store from another geometry must be refused, not taken for free space.
      checkGeometry(rec, dev, at);
      if (!isSet(head, probe.commitAt, this.unit)) {
        s++;
        continue;
      }
      const layout = checkRecordFits(rec, dev, at);
      const marks: boolean[] = [];
      for (let k = 0; k < MARK_COUNT; k++) marks.push(isSet(head, layout.marksAt + k * this.unit, this.unit));
      const bitmap = new Uint8Array(layout.bitmapBytes);
      dev.read(at + layout.bitmapAt, bitmap);
      const e: Entry = { rec, at, layout, marks, bitmap, stored: countStored(bitmap, layout.chunks), clean: false, pendingBytes: [], pendingChunks: 0, dataAt: at + layout.headerSectors * es };
      if (marks[MARK.removed]) this.eraseExtent(e);
      else {
        if (this.find(rec.id)) throw new OtaflashError('STORE_CORRUPT', `two images with id ${rec.id} (at ${hex(this.find(rec.id)!.at)} and ${hex(at)})`, { id: rec.id });
        this.entries.push(e);
      }
      s += rec.extentSectors;
    }
  }

  /** A view of `n` bytes of the scratch buffer (grown as needed); valid until the next call. */
  private scratch(n: number): Uint8Array {
    if (this.scratchBuf.length < n) this.scratchBuf = new Uint8Array(Math.max(n, this.device.eraseSize));
    return n === this.scratchBuf.length ? this.scratchBuf : this.scratchBuf.subarray(0, n);
  }

  private find(id: number): Entry | undefined {
    for (let i = 0; i < this.entries.length; i++) if (this.entries[i].rec.id === id) return this.entries[i];
    return undefined;
  }

  private entry(id: unknown, op: string): Entry {
    // Chunks of one image arrive in runs: the last image looked up is checked first.
    const last = this.lastEntry;
    if (last !== null && last.rec.id === id) return last;
    if (!isU32(id)) throw new OtaflashError('STORE_BAD_ARGUMENT', `${op}: image id must be a whole number 0..0xffffffff, got ${String(id)}`);
    const e = this.find(id);
    if (!e) throw new OtaflashError('STORE_NOT_FOUND', `${op}: no image with id ${id} in the store`, { id });
    this.lastEntry = e;
    return e;
  }

  private info(e: Entry): StoredImage {
    const r = e.rec;
    return {
      id: r.id,
      kind: r.kind,
      component: r.component,
      version: r.version,
      size: r.size,
      sha256: r.sha256.slice(),
      chunkSize: r.chunkSize,
      seq: r.seq,
      state: stateOf(e),
      chunks: e.layout.chunks,
      storedChunks: e.stored,
      offset: e.at,
      sectors: r.extentSectors,
    };
  }

  /** Every image, in device order. */
  list(): StoredImage[] {
    const out: StoredImage[] = [];
    const sorted = this.entries.slice().sort((a, b) => a.at - b.at);
    for (let i = 0; i < sorted.length; i++) out.push(this.info(sorted[i]));
    return out;
  }

  /** One image, or null when the store has no image with that id. */
  get(id: number): StoredImage | null {
    const e = isU32(id) ? this.find(id) : undefined;
    return e ? this.info(e) : null;
  }

  space(): StoreSpace {
    const gaps = this.gaps(null);
    let free = 0;
    let largest = 0;
    for (let i = 0; i < gaps.length; i++) {
      free += gaps[i].sectors;
      if (gaps[i].sectors > largest) largest = gaps[i].sectors;
    }
    return { sectors: this.sectorCount, freeSectors: free, largestFreeSectors: largest, eraseSize: this.device.eraseSize };
  }

  /** Sectors an image of `size` bytes in `chunkSize` chunks takes on this device. */
  sectorsFor(size: number, chunkSize: number): number {
    const l = extentLayout(this.unit, this.device.eraseSize, size, chunkSize);
    return l.headerSectors + l.dataSectors;
  }

  /** Free runs of sectors, leaving out `skip`'s extent as if it were removed. */
  private gaps(skip: Entry[] | null): { at: number; sectors: number }[] {
    const used: { s: number; n: number }[] = [];
    const es = this.device.eraseSize;
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (skip && skip.indexOf(e) >= 0) continue;
      used.push({ s: e.at / es, n: e.rec.extentSectors });
    }
    for (let i = 0; i < this.reservations.length; i++) {
      const r = this.reservations[i];
      if (!r.done) used.push({ s: r.at / es, n: r.sectors });
    }
    used.sort((a, b) => a.s - b.s);
    const out: { at: number; sectors: number }[] = [];
    let s = 0;
    for (let i = 0; i < used.length; i++) {
      if (used[i].s > s) out.push({ at: s * es, sectors: used[i].s - s });
      s = Math.max(s, used[i].s + used[i].n);
    }
    if (s < this.sectorCount) out.push({ at: s * es, sectors: this.sectorCount - s });
    return out;
  }

  private firstFit(sectors: number, skip: Entry[] | null): number {
    const gaps = this.gaps(skip);
    for (let i = 0; i < gaps.length; i++) if (gaps[i].sectors >= sectors) return gaps[i].at;
    return -1;
  }

  /** The eviction order of the policy described at CreateOptions.evict. */
  evictionCandidates(): StoredImage[] {
    const failed: Entry[] = [];
    const installed: Entry[] = [];
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i];
      const st = stateOf(e);
      if (st === 'failed') failed.push(e);
      else if (st === 'installed' && !this.isNewestInstalled(e)) installed.push(e);
    }
    const bySeq = (a: Entry, b: Entry) => a.rec.seq - b.rec.seq || a.at - b.at;
    failed.sort(bySeq);
    installed.sort(bySeq);
    return failed.concat(installed).map((e) => this.info(e));
  }

  private isNewestInstalled(e: Entry): boolean {
    for (let i = 0; i < this.entries.length; i++) {
      const o = this.entries[i];
      if (o === e || o.rec.component !== e.rec.component || stateOf(o) !== 'installed') continue;
      if (o.rec.seq > e.rec.seq || (o.rec.seq === e.rec.seq && o.at > e.at)) return false;
    }
    return true;
  }

  private checkCreate(o: CreateImageOptions): HeaderRecord {
    const bad = (what: string): never => {
      throw new OtaflashError('STORE_BAD_ARGUMENT', `create: ${what}`);
    };
    if (o === null || typeof o !== 'object') bad(`options must be an object, got ${kindOf(o)}`);
    if (typeof o.kind !== 'string' || !Object.prototype.hasOwnProperty.call(IMAGE_KIND_CODES, o.kind)) bad(`kind must be one of ${Object.keys(IMAGE_KIND_CODES).join(', ')}, got ${String(o.kind)}`);
    checkName('create: component', o.component);
    checkName('create: version', o.version);
    if (!isU32(o.size) || o.size < 1) bad(`size must be a whole number 1..0xffffffff, got ${String(o.size)}`);
    if (!(o.sha256 instanceof Uint8Array) || o.sha256.length !== 32) bad('sha256 must be a Uint8Array of 32 bytes');
    if (!isU32(o.chunkSize) || o.chunkSize < 1 || o.chunkSize % this.unit !== 0) bad(`chunkSize must be a positive multiple of the device's program unit (${this.unit}), got ${String(o.chunkSize)}`);
    if (!isU32(o.seq)) bad(`seq must be a whole number 0..0xffffffff, got ${String(o.seq)}`);
    if (o.id !== undefined && !isU32(o.id)) bad(`id must be a whole number 0..0xffffffff, got ${String(o.id)}`);
    let id = o.id;
    if (id === undefined) {
      id = 1;
      for (let i = 0; i < this.entries.length; i++) if (this.entries[i].rec.id >= id) id = this.entries[i].rec.id + 1;
      for (let i = 0; i < this.reservations.length; i++) if (!this.reservations[i].done && this.reservations[i].rec.id >= id) id = this.reservations[i].rec.id + 1;
      if (id > 0xffffffff) bad('no free id above the highest one; pass an id');
    } else if (this.find(id) || this.reservations.some((r) => !r.done && r.rec.id === id)) {
      throw new OtaflashError('STORE_ID_EXISTS', `create: the store already holds an image with id ${id}`, { id });
    }
    const l = extentLayout(this.unit, this.device.eraseSize, o.size, o.chunkSize);
    return {
      kind: o.kind,
      unit: this.unit,
      eraseShift: log2Exact(this.device.eraseSize),
      id: id!,
      seq: o.seq,
      size: o.size,
      chunkSize: o.chunkSize,
      extentSectors: l.headerSectors + l.dataSectors,
      headerSectors: l.headerSectors,
      sha256: o.sha256.slice(),
      component: o.component,
      version: o.version,
    };
  }

  /**
   * Sets sectors aside for a new image without touching flash (except evictions): prepare() erases
   * them a step at a time, commit() writes the header. create() does all three.
   */
  reserve(o: CreateImageOptions, opts: CreateOptions = {}): Reservation {
    if (opts === null || typeof opts !== 'object') throw new OtaflashError('STORE_BAD_ARGUMENT', `create: options must be an object, got ${kindOf(opts)}`);
    const rec = this.checkCreate(o);
    const layout = extentLayout(this.unit, this.device.eraseSize, rec.size, rec.chunkSize);
    const need = rec.extentSectors;
    let at = this.firstFit(need, null);
    if (at < 0 && opts.evict === true) {
      const order = this.evictionCandidates();
      const victims: Entry[] = [];
      for (let i = 0; i < order.length && at < 0; i++) {
        victims.push(this.find(order[i].id)!);
        at = this.firstFit(need, victims);
      }
      if (at >= 0) for (let i = 0; i < victims.length; i++) this.remove(victims[i].rec.id);
    }
    if (at < 0) {
      const sp = this.space();
      throw new OtaflashError(
        'STORE_FULL',
        `create: image ${rec.id} (${rec.size} bytes) needs ${need} free sectors in a row; the store has ${sp.freeSectors} free, at most ${sp.largestFreeSectors} in a row${opts.evict === true ? ' even after evicting what the policy allows' : ' (pass { evict: true } to evict failed and superseded installed images)'}`,
        { id: rec.id, sectorsNeeded: need, freeSectors: sp.freeSectors, largestFreeSectors: sp.largestFreeSectors },
      );
    }
    const r: Reservation = { at, sectors: need, prepared: 0, rec, layout, done: false };
    this.reservations.push(r);
    return r;
  }

  /**
   * Makes the next sector of a reservation erased: reads it, erases it only when it is not blank.
   * Returns the bytes erased (0 or one sector); `prepared === sectors` when nothing is left.
   */
  prepare(r: Reservation): number {
    this.checkReservation(r);
    if (r.prepared >= r.sectors) return 0;
    const es = this.device.eraseSize;
    const at = r.at + r.prepared * es;
    let erased = 0;
    if (this.knownErased[at / es] === 0) {
      const buf = this.scratch(es);
      this.device.read(at, buf);
      if (!isErasedBytes(buf, this.device.eraseValue)) {
        this.device.erase(at, es);
        erased = es;
      }
    }
    r.prepared++;
    return erased;
  }

  /** Abandons a reservation (nothing on flash names it). */
  release(r: Reservation): void {
    r.done = true;
    const i = this.reservations.indexOf(r);
    if (i >= 0) this.reservations.splice(i, 1);
  }

  private checkReservation(r: Reservation): void {
    if (this.reservations.indexOf(r) < 0) throw new OtaflashError('STORE_BAD_ARGUMENT', 'this reservation is not open in this store (committed, released, or from another store)');
  }

  /** Writes the header of a fully prepared reservation: record, read back, then the commit marker. */
  commit(r: Reservation): StoredImage {
    this.checkReservation(r);
    while (r.prepared < r.sectors) this.prepare(r);
    const dev = this.device;
    dev.sync();
    const l = r.layout;
    this.knownErased.fill(0, r.at / dev.eraseSize, r.at / dev.eraseSize + r.sectors);
    const record = encodeRecord(r.rec, l.recordSpan, dev.eraseValue, this.hashes);
    dev.write(r.at, record);
    dev.sync();
    this.readBack(r.at, record, 'header');
    dev.write(r.at + l.commitAt, this.zeroUnit);
    dev.sync();
    const bitmap = new Uint8Array(l.bitmapBytes);
    bitmap.fill(0xff);
    const marks: boolean[] = [];
    for (let k = 0; k < MARK_COUNT; k++) marks.push(false);
    const e: Entry = { rec: r.rec, at: r.at, layout: l, marks, bitmap, stored: 0, clean: true, pendingBytes: [], pendingChunks: 0, dataAt: r.at + l.headerSectors * dev.eraseSize };
    this.release(r);
    this.entries.push(e);
    return this.info(e);
  }

  /** Creates an image (state receiving, no chunks). Erases its sectors first, which takes a while for a big image on a real chip; the step API (StoreDownload) spreads that out. */
  create(o: CreateImageOptions, opts: CreateOptions = {}): StoredImage {
    const r = this.reserve(o, opts);
    try {
      return this.commit(r);
    } catch (e) {
      this.release(r);
      throw e;
    }
  }

  private readBack(at: number, want: Uint8Array, what: string): void {
    const back = new Uint8Array(want.length);
    this.device.read(at, back);
    for (let i = 0; i < want.length; i++) {
      if (back[i] !== want[i]) {
        throw new OtaflashError('STORE_VERIFY_FAILED', `image store ${what} at ${hex(at + i)} reads ${hex(back[i])} after writing ${hex(want[i])}`, { offset: at + i });
      }
    }
  }

  private chunkBytes(e: Entry, index: number): number {
    return index === e.layout.chunks - 1 ? e.layout.lastChunkBytes : e.rec.chunkSize;
  }

  private checkIndex(e: Entry, index: unknown, op: string): number {
    if (typeof index !== 'number' || !(index >= 0 && index < e.layout.chunks) || index !== Math.floor(index)) {
      throw new OtaflashError('STORE_BAD_CHUNK_INDEX', `${op}: image ${e.rec.id} has chunks 0..${e.layout.chunks - 1}, got ${String(index)}`, { id: e.rec.id, index });
    }
    return index;
  }

  private has(e: Entry, index: number): boolean {
    return (e.bitmap[index >> 3] & (1 << (index & 7))) === 0;
  }

  /** True when chunk `index` of image `id` is on flash. */
  hasChunk(id: number, index: number): boolean {
    const e = this.entry(id, 'hasChunk');
    return this.has(e, this.checkIndex(e, index, 'hasChunk'));
  }

  /**
   * Stores one chunk (every chunk is chunkSize bytes but the last, which holds the rest). Returns
   * true when it was new, false when the same bytes were already stored (a duplicate). A different
   * content for a stored chunk is refused (STORE_CHUNK_MISMATCH), as is one that cannot be
   * programmed over bytes a power cut left half-written (STORE_CHUNK_CONFLICT).
   */
  writeChunk(id: number, index: number, bytes: Uint8Array): boolean {
    const e = this.entry(id, 'writeChunk');
    const i = this.checkIndex(e, index, 'writeChunk');
    const len = this.chunkBytes(e, i);
    if (!(bytes instanceof Uint8Array) || bytes.length !== len) {
      throw new OtaflashError('STORE_BAD_CHUNK_SIZE', `writeChunk: chunk ${i} of image ${id} is ${len} bytes, got ${bytes instanceof Uint8Array ? bytes.length + ' bytes' : kindOf(bytes)}`, { id, index: i, expected: len });
    }
    const at = e.dataAt + i * e.rec.chunkSize;
    if ((e.bitmap[i >> 3] & (1 << (i & 7))) === 0) {
      const have = this.scratch(len);
      this.device.read(at, have);
      for (let k = 0; k < len; k++) {
        if (have[k] !== bytes[k]) {
          throw new OtaflashError('STORE_CHUNK_MISMATCH', `writeChunk: chunk ${i} of image ${id} is already stored with different content (byte ${k} is ${hex(have[k])}, the new chunk has ${hex(bytes[k])})`, { id, index: i, offset: k });
        }
      }
      return false;
    }
    // A missing chunk means the image is still receiving: every later state needs every chunk.
    if (e.marks[MARK.verified] || e.marks[MARK.failed]) throw new OtaflashError('STORE_BAD_STATE', `writeChunk: image ${id} is ${stateOf(e)} with chunk ${i} missing`, { id, state: stateOf(e) });
    let data = bytes;
    const u = this.unit;
    if (len % u !== 0) {
      data = new Uint8Array(roundUp(len, u));
      data.fill(this.device.eraseValue);
      data.set(bytes);
    }
    if (!e.clean) this.checkProgrammable(e, i, at, data);
    const dev = this.device;
    try {
      dev.write(at, data);
    } catch (err) {
      e.clean = false;
      throw err;
    }
    const byte = i >> 3;
    e.bitmap[byte] &= ~(1 << (i & 7));
    const p = e.pendingBytes;
    if (p.length === 0 || p[p.length - 1] !== byte) p.push(byte);
    e.pendingChunks++;
    e.stored++;
    if (e.pendingChunks >= this.flushChunks || e.stored === e.layout.chunks) this.flushEntry(e);
    if (e.stored === e.layout.chunks) this.setMark(e, MARK.complete);
    return true;
  }

  /** Syncs the chunks written so far, then programs their bitmap bits: one program per run of adjacent units. */
  private flushEntry(e: Entry): void {
    const p = e.pendingBytes;
    if (p.length === 0) return;
    const dev = this.device;
    const u = this.unit;
    try {
      // The bits go only after the bytes they claim are durable.
      dev.sync();
      if (p.length > 1) p.sort((a, b) => a - b);
      let k = 0;
      while (k < p.length) {
        const lo = p[k] - (p[k] % u);
        let hi = lo + u;
        while (k < p.length && p[k] < hi + u) {
          if (p[k] >= hi) hi += u;
          k++;
        }
        dev.write(e.at + e.layout.bitmapAt + lo, hi - lo === u ? this.unitCopy(e.bitmap, lo) : e.bitmap.subarray(lo, hi));
      }
    } catch (err) {
      e.clean = false;
      throw err;
    }
    p.length = 0;
    e.pendingChunks = 0;
  }

  /** The bitmap unit at `lo`, copied into one reused buffer: a subarray per chunk cost more than the rest of writeChunk. */
  private unitCopy(bitmap: Uint8Array, lo: number): Uint8Array {
    const b = this.unitBuf;
    for (let k = 0; k < b.length; k++) b[k] = bitmap[lo + k];
    return b;
  }

  /** Programs the bitmap bits still waiting in RAM (flushChunks > 1); sync() and complete() do it too. */
  flush(): void {
    for (let i = 0; i < this.entries.length; i++) this.flushEntry(this.entries[i]);
  }

  /**
   * Before programming a chunk the store did not erase itself in this session: its bytes may hold
   * part of a write a power cut interrupted. The same content programs over them harmlessly;
   * anything that would need a bit raised cannot be stored without erasing the image.
   */
  private checkProgrammable(e: Entry, index: number, at: number, data: Uint8Array): void {
    const have = this.scratch(data.length);
    this.device.read(at, have);
    if (isErasedBytes(have, this.device.eraseValue)) return;
    for (let k = 0; k < data.length; k++) {
      if ((data[k] & ~have[k] & 0xff) !== 0) {
        throw new OtaflashError(
          'STORE_CHUNK_CONFLICT',
          `writeChunk: chunk ${index} of image ${e.rec.id} holds bytes from an interrupted write of different content (byte ${k} is ${hex(have[k])}, the chunk needs ${hex(data[k])}); remove the image and create it again`,
          { id: e.rec.id, index, offset: k },
        );
      }
    }
  }

  /** Programs one state mark after syncing what it records. */
  private setMark(e: Entry, k: number): void {
    if (e.marks[k]) return;
    const dev = this.device;
    dev.sync();
    dev.write(e.at + e.layout.marksAt + k * this.unit, this.zeroUnit);
    dev.sync();
    e.marks[k] = true;
  }

  /** Indices of the chunks not yet stored, ascending (at most `limit` of them). */
  missingChunks(id: number, limit = Infinity): number[] {
    const e = this.entry(id, 'missingChunks');
    if (!(typeof limit === 'number' && limit >= 0)) throw new OtaflashError('STORE_BAD_ARGUMENT', `missingChunks: limit must be a non-negative number, got ${String(limit)}`);
    const out: number[] = [];
    const n = e.layout.chunks;
    for (let i = 0; i < n && out.length < limit; i++) {
      if ((i & 7) === 0 && i + 8 <= n && e.bitmap[i >> 3] === 0) {
        i += 7;
        continue;
      }
      if (!this.has(e, i)) out.push(i);
    }
    return out;
  }

  /**
   * Reads a stored chunk into `into` (at least the chunk's length) and returns its length. Works
   * while the image is still receiving, so a device can pass chunks on to its neighbours.
   */
  readChunk(id: number, index: number, into: Uint8Array): number {
    const e = this.entry(id, 'readChunk');
    const i = this.checkIndex(e, index, 'readChunk');
    const len = this.chunkBytes(e, i);
    if (!(into instanceof Uint8Array) || into.length < len) {
      throw new OtaflashError('STORE_BAD_ARGUMENT', `readChunk: chunk ${i} of image ${id} is ${len} bytes; the buffer must hold at least that, got ${into instanceof Uint8Array ? into.length + ' bytes' : kindOf(into)}`);
    }
    if (!this.has(e, i)) throw new OtaflashError('STORE_CHUNK_MISSING', `readChunk: chunk ${i} of image ${id} is not stored yet`, { id, index: i });
    const at = e.at + e.layout.headerSectors * this.device.eraseSize + i * e.rec.chunkSize;
    this.device.read(at, len === into.length ? into : into.subarray(0, len));
    return len;
  }

  /** Reads image bytes [offset, offset + into.length) from the data area, whatever the bitmap says (install and hashing use it once complete). */
  readImage(id: number, offset: number, into: Uint8Array): void {
    const e = this.entry(id, 'readImage');
    if (!(into instanceof Uint8Array) || !(offset >= 0 && offset + into.length <= e.rec.size) || offset !== Math.floor(offset)) {
      throw new OtaflashError('STORE_BAD_ARGUMENT', `readImage: [${offset}, +${into instanceof Uint8Array ? into.length : '?'}) is not inside image ${id} (${e.rec.size} bytes)`);
    }
    this.device.read(e.at + e.layout.headerSectors * this.device.eraseSize + offset, into);
  }

  /** Starts hashing a complete image; step it with hashStep(), or let complete() run it to the end. */
  startHash(id: number): ImageHashJob {
    const e = this.entry(id, 'complete');
    this.flushEntry(e);
    const st = stateOf(e);
    if (st === 'failed') throw new OtaflashError('STORE_BAD_STATE', `complete: image ${id} has failed (its hash did not match, or an install refused it); remove it`, { id, state: st });
    if (e.stored !== e.layout.chunks) {
      throw new OtaflashError('STORE_INCOMPLETE', `complete: image ${id} has ${e.layout.chunks - e.stored} of ${e.layout.chunks} chunks missing`, { id, missing: e.layout.chunks - e.stored });
    }
    // A torn 'complete' mark (all chunks stored, mark not set): set it again.
    this.setMark(e, MARK.complete);
    return new ImageHashJob(this, e.rec.id, e.rec.size, this.hashes.sha256(), e.marks[MARK.verified]);
  }

  /** @internal the end of a hash job: marks the image verified, or failed and throws STORE_HASH_MISMATCH. */
  finishHash(id: number, digest: Uint8Array): StoredImage {
    const e = this.entry(id, 'complete');
    const want = e.rec.sha256;
    let same = digest.length === want.length;
    for (let i = 0; same && i < want.length; i++) if (digest[i] !== want[i]) same = false;
    if (!same) {
      this.setMark(e, MARK.failed);
      throw new OtaflashError('STORE_HASH_MISMATCH', `complete: the SHA-256 of the ${e.rec.size} stored bytes of image ${id} is ${toHex(digest)}, not ${toHex(want)}; the image is marked failed`, { id });
    }
    this.setMark(e, MARK.verified);
    return this.info(e);
  }

  /**
   * Checks the stored image against its SHA-256, reading it back from flash, and marks it verified
   * (or failed, throwing STORE_HASH_MISMATCH). Needs every chunk (STORE_INCOMPLETE). Idempotent.
   */
  complete(id: number): StoredImage {
    const job = this.startHash(id);
    if (job.alreadyVerified) return this.get(id)!;
    while (!job.step(Infinity));
    return job.result!;
  }

  /** @internal for install(): programs the installing / installed / failed mark. */
  mark(id: number, state: 'installing' | 'installed' | 'failed'): void {
    this.setMark(this.entry(id, 'mark'), MARK[state]);
  }

  /** Removes an image: power-cut safe (open() finishes an interrupted removal). */
  remove(id: number): void {
    const e = this.entry(id, 'remove');
    this.setMark(e, MARK.removed);
    this.entries.splice(this.entries.indexOf(e), 1);
    if (this.lastEntry === e) this.lastEntry = null;
    this.eraseExtent(e);
  }

  private eraseExtent(e: Entry): void {
    const dev = this.device;
    const es = dev.eraseSize;
    const dataAt = e.at + e.layout.headerSectors * es;
    const dataLen = (e.rec.extentSectors - e.layout.headerSectors) * es;
    if (dataLen > 0) dev.erase(dataAt, dataLen);
    dev.sync();
    // Zero the magic before erasing the header: an interrupted erase could otherwise leave the
    // record and commit marker intact with the 'removed' mark erased, a trusted header over nothing.
    dev.write(e.at, new Uint8Array(roundUp(4, this.unit)));
    dev.sync();
    dev.erase(e.at, e.layout.headerSectors * es);
    dev.sync();
    this.knownErased.fill(1, e.at / es, e.at / es + e.rec.extentSectors);
  }

  /**
   * Installs a verified app image into the next OTA slot through `engine` and selects it for boot
   * (install.ts); power-cut safe: after a reboot, call it again with a fresh engine.
   */
  install(id: number, engine: OtaEngine, opts?: InstallOptions): InstallResult {
    return installImage(this, id, engine, opts);
  }

  /** Makes every write so far durable: pending bitmap bits are programmed, then the device synced. */
  sync(): void {
    this.flush();
    this.device.sync();
  }
}

/** Streams an image's stored bytes through SHA-256 a bounded number of bytes at a time. */
export class ImageHashJob {
  private offset = 0;
  private readonly buf: Uint8Array;
  result: StoredImage | null = null;

  /** @internal */
  constructor(
    private readonly store: ImageStore,
    readonly id: number,
    readonly size: number,
    private readonly hash: IncrementalHash,
    readonly alreadyVerified: boolean,
  ) {
    this.buf = new Uint8Array(Math.min(READ_PIECE, size));
  }

  get hashed(): number {
    return this.offset;
  }

  /** Hashes at least one piece (up to 4 KiB) and at most `maxBytes` more; true once the verdict is in (throws STORE_HASH_MISMATCH). */
  step(maxBytes: number): boolean {
    if (this.result) return true;
    let budget = maxBytes;
    let first = true;
    while (this.offset < this.size && (first || budget >= Math.min(this.buf.length, this.size - this.offset))) {
      const n = Math.min(this.buf.length, this.size - this.offset);
      const view = n === this.buf.length ? this.buf : this.buf.subarray(0, n);
      this.store.readImage(this.id, this.offset, view);
      this.hash.update(view);
      this.offset += n;
      budget -= n;
      first = false;
    }
    if (this.offset < this.size) return false;
    this.result = this.store.finishHash(this.id, this.hash.digest());
    return true;
  }
}

export function isErasedBytes(b: Uint8Array, eraseValue: number): boolean {
  const n = b.length;
  let i = 0;
  if ((b.byteOffset & 3) === 0 && n >= 16) {
    const words = new Uint32Array(b.buffer, b.byteOffset, n >>> 2);
    const w = (eraseValue * 0x01010101) >>> 0;
    for (let k = 0; k < words.length; k++) if (words[k] !== w) return false;
    i = words.length << 2;
  }
  for (; i < n; i++) if (b[i] !== eraseValue) return false;
  return true;
}
