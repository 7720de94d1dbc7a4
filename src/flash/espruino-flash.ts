import { OtaflashError, hex, kindOf } from '../errors';
import { checkBytes, checkErase, checkRange, checkWrite } from './checks';
import type { BlockDevice } from './types';

/** A page as Espruino's `require("Flash").getPage(addr)` describes it. */
export interface EspruinoFlashPage {
  addr: number;
  length: number;
}

/**
 * The part of Espruino's `require("Flash")` module the adapter uses. `read` returns a Uint8Array
 * (older firmware returns a string on some boards; both are accepted), `getPage` returns undefined
 * outside the flash.
 */
export interface EspruinoFlashModule {
  read(length: number, addr: number): Uint8Array | string;
  write(data: Uint8Array, addr: number): void;
  erasePage(addr: number): void;
  getPage(addr: number): EspruinoFlashPage | undefined | null;
}

export interface EspruinoFlashOptions {
  /** Where the region starts in Espruino's flash address space (for example `require("Flash").getFree()[0].addr`); page aligned. */
  base: number;
  /** Bytes in the region; a multiple of eraseSize. Nothing outside [base, base + size) is ever read, written or erased. */
  size: number;
  /**
   * The erase unit the library sees: a multiple of the board's page. Default: the page size, at least
   * 4096, because ESP-IDF's layouts (otadata, partition alignment) are in 4 KiB sectors even where the
   * board's pages are smaller (Espruino's Linux build: 1 KiB).
   */
  eraseSize?: number;
  /** Program granularity. Default 4: most boards' flash controllers program whole 32-bit words. */
  writeSize?: number;
  /**
   * Largest read or write handed to the module at once. Espruino copies each into a new buffer made
   * of its variables, so small pieces keep the peak variable count low. Default 1024.
   */
  chunk?: number;
}

/**
 * Espruino's Flash functions take only integer-typed numbers ("Address should be an integer, got
 * Number" otherwise), and Espruino keeps the result of a division or Math.floor as a double even when
 * it is whole. `| 0` makes an integer of it; addresses from 2 GiB up stay as they are (no board's
 * flash Espruino runs on is mapped there).
 */
function int(n: number): number {
  return n < 0x80000000 ? n | 0 : n;
}

function isPow2(n: unknown): n is number {
  return typeof n === 'number' && n > 0 && n === Math.floor(n) && (n & (n - 1)) === 0;
}

/**
 * Espruino's flash (`require("Flash")`) as a block device, limited to one region of it. Espruino
 * boards differ in page size (1 KiB on its Linux build, 4 KiB on ESP32, mixed on STM32), so the
 * page is read from `getPage()` when constructed and checked again page by page on every erase.
 */
export class EspruinoFlash implements BlockDevice {
  readonly size: number;
  readonly eraseSize: number;
  readonly writeSize: number;
  readonly eraseValue = 0xff;
  /** The board's page size at `base`. */
  readonly pageSize: number;
  readonly base: number;
  private readonly flash: EspruinoFlashModule;
  private readonly chunk: number;

  constructor(flash: EspruinoFlashModule, opts: EspruinoFlashOptions) {
    // Espruino's built-in modules are function objects (typeof 'function'), so both kinds are accepted.
    if (flash === null || (typeof flash !== 'object' && typeof flash !== 'function') || typeof flash.read !== 'function' || typeof flash.write !== 'function' ||
        typeof flash.erasePage !== 'function' || typeof flash.getPage !== 'function') {
      throw new OtaflashError('FLASH_BAD_ARGUMENT', `EspruinoFlash: expected require("Flash") (read, write, erasePage, getPage), got ${kindOf(flash)}`);
    }
    if (opts === null || typeof opts !== 'object') throw new OtaflashError('FLASH_BAD_ARGUMENT', `EspruinoFlash: options must be an object with base and size, got ${kindOf(opts)}`);
    const base = opts.base;
    const size = opts.size;
    if (typeof base !== 'number' || typeof size !== 'number' || !(base >= 0) || !(size > 0) || base % 1 !== 0 || size % 1 !== 0) {
      throw new OtaflashError('FLASH_BAD_GEOMETRY', `EspruinoFlash: base ${String(base)} and size ${String(size)} must be a non-negative and a positive integer`);
    }
    const first = flash.getPage(int(base));
    if (!first || first.addr !== base || !isPow2(first.length)) {
      throw new OtaflashError('FLASH_BAD_GEOMETRY', `EspruinoFlash: no flash page starts at ${hex(base)} (getPage gave ${JSON.stringify(first)})`, { base });
    }
    const page = first.length;
    const eraseSize = opts.eraseSize === undefined ? Math.max(page, 4096) : opts.eraseSize;
    const writeSize = opts.writeSize === undefined ? 4 : opts.writeSize;
    if (!isPow2(eraseSize) || eraseSize % page !== 0) {
      throw new OtaflashError('FLASH_BAD_GEOMETRY', `EspruinoFlash: eraseSize ${String(eraseSize)} must be a power of two and a multiple of the page size ${page}`);
    }
    if (!isPow2(writeSize) || writeSize > eraseSize) {
      throw new OtaflashError('FLASH_BAD_GEOMETRY', `EspruinoFlash: writeSize ${String(writeSize)} must be a power of two no larger than eraseSize`);
    }
    if (size % eraseSize !== 0) {
      throw new OtaflashError('FLASH_BAD_GEOMETRY', `EspruinoFlash: size ${hex(size)} is not a multiple of the erase size ${hex(eraseSize)}`);
    }
    // The region's last page must end exactly at the region's end, or erasing it would reach past it.
    const last = flash.getPage(int(base + size - 1));
    if (!last || last.addr + last.length !== base + size) {
      throw new OtaflashError('FLASH_BAD_GEOMETRY', `EspruinoFlash: the region ${hex(base)}+${hex(size)} does not end on a page boundary of the board's flash (getPage gave ${JSON.stringify(last)})`, { base, size });
    }
    const chunk = opts.chunk === undefined ? 1024 : opts.chunk;
    if (!isPow2(chunk) || chunk < writeSize) throw new OtaflashError('FLASH_BAD_GEOMETRY', `EspruinoFlash: chunk ${String(chunk)} must be a power of two of at least writeSize`);
    this.flash = flash;
    this.base = base;
    this.size = size;
    this.pageSize = page;
    this.eraseSize = eraseSize;
    this.writeSize = writeSize;
    this.chunk = chunk;
  }

  read(offset: number, into: Uint8Array): void {
    checkBytes('read', into);
    checkRange(this, 'read', offset, into.length);
    for (let done = 0; done < into.length; done += this.chunk) {
      const n = Math.min(this.chunk, into.length - done);
      const got = this.flash.read(int(n), int(this.base + offset + done));
      if (got === undefined || got === null || got.length !== n) {
        throw new OtaflashError('FLASH_IO', `EspruinoFlash: read of ${n} bytes at ${hex(this.base + offset + done)} returned ${got === undefined || got === null ? String(got) : got.length + ' bytes'}`);
      }
      if (typeof got === 'string') for (let i = 0; i < n; i++) into[done + i] = got.charCodeAt(i) & 0xff;
      else into.set(got, done);
    }
  }

  write(offset: number, data: Uint8Array): void {
    checkBytes('write', data);
    checkWrite(this, offset, data.length);
    for (let done = 0; done < data.length; done += this.chunk) {
      const n = Math.min(this.chunk, data.length - done);
      this.flash.write(done === 0 && n === data.length ? data : data.subarray(done, done + n), int(this.base + offset + done));
    }
  }

  erase(offset: number, length: number): void {
    checkErase(this, offset, length);
    const end = this.base + offset + length;
    let at = int(this.base + offset);
    while (at < end) {
      // Checked page by page: a board whose pages change size inside the region must not erase a neighbour.
      const p = this.flash.getPage(at);
      if (!p || p.addr !== at || !(p.length > 0) || at + p.length > end) {
        throw new OtaflashError('FLASH_BAD_GEOMETRY', `EspruinoFlash: the page at ${hex(at)} (${JSON.stringify(p)}) does not fit the erase of ${hex(length)} bytes at ${hex(offset)}`, { offset, length });
      }
      this.flash.erasePage(at);
      at = int(at + p.length);
    }
  }

  /** Espruino's flash calls return when the bytes are programmed: nothing is buffered. */
  sync(): void {}
}
