// A streaming decoder for detools's "crle" (conditional run-length) compression. The body is a
// sequence of records:
//   0x00, size (unsigned base-128, 7 bits a byte, low first), `size` bytes   scattered: copied as is
//   0x01, count (same encoding), one byte                                    repeated `count` times
// Any other kind byte is corrupt. A size has at most 4 bytes (28 bits), as detools's C code reads it.
import { OtaflashError } from '../errors';
import type { ByteSink, StreamDecoder } from './stream';

const IDLE = 0;
const SCATTERED_SIZE = 1;
const SCATTERED_DATA = 2;
const REPEATED_SIZE = 3;
const REPEATED_VALUE = 4;
const OUT_SIZE = 4096;

export class CrleDecoder implements StreamDecoder {
  private readonly sink: ByteSink;
  private st = IDLE;
  private value = 0;
  private shift = 0;
  private left = 0;
  private inBytes = 0;
  private readonly out = new Uint8Array(OUT_SIZE);
  private failed = false;

  constructor(sink: ByteSink) {
    this.sink = sink;
  }

  get consumed(): number {
    return this.inBytes;
  }

  push(chunk: Uint8Array): void {
    if (this.failed) throw new OtaflashError('DELTA_DECODER_FAILED', 'the crle decoder already failed');
    try {
      this.decode(chunk);
    } catch (e) {
      this.failed = true;
      throw e;
    }
  }

  finish(): void {
    if (this.st !== IDLE) {
      this.failed = true;
      throw new OtaflashError('DELTA_TRUNCATED', `the crle stream ends inside a record (after ${this.inBytes} bytes)`, { offset: this.inBytes });
    }
  }

  /** Reads a size byte; returns true when the size is complete. */
  private sizeByte(b: number): boolean {
    if (this.shift >= 28) throw new OtaflashError('DELTA_CORRUPT_PATCH', `crle record size at compressed byte ${this.inBytes} is longer than 4 bytes`, { offset: this.inBytes });
    this.value += (b & 0x7f) * 2 ** this.shift;
    this.shift += 7;
    return (b & 0x80) === 0;
  }

  private decode(chunk: Uint8Array): void {
    const len = chunk.length;
    let i = 0;
    while (i < len) {
      switch (this.st) {
        case IDLE: {
          const kind = chunk[i++];
          this.inBytes++;
          if (kind > 1) throw new OtaflashError('DELTA_CORRUPT_COMPRESSED', `crle record kind ${kind} at compressed byte ${this.inBytes - 1} (must be 0 or 1)`, { offset: this.inBytes - 1, kind });
          this.st = kind === 0 ? SCATTERED_SIZE : REPEATED_SIZE;
          this.value = 0;
          this.shift = 0;
          break;
        }
        case SCATTERED_SIZE:
        case REPEATED_SIZE: {
          const b = chunk[i++];
          this.inBytes++;
          if (!this.sizeByte(b)) break;
          this.left = this.value;
          if (this.st === SCATTERED_SIZE) this.st = this.left > 0 ? SCATTERED_DATA : IDLE;
          else this.st = REPEATED_VALUE;
          break;
        }
        case SCATTERED_DATA: {
          const n = Math.min(this.left, len - i);
          this.inBytes += n;
          this.left -= n;
          const from = i;
          i += n;
          if (this.left === 0) this.st = IDLE;
          this.sink(chunk, from, from + n);
          break;
        }
        case REPEATED_VALUE: {
          const v = chunk[i++];
          this.inBytes++;
          this.st = IDLE;
          let n = this.left;
          if (n > 0) this.out.fill(v, 0, Math.min(n, OUT_SIZE));
          while (n > 0) {
            const k = Math.min(n, OUT_SIZE);
            n -= k;
            this.sink(this.out, 0, k);
          }
          break;
        }
      }
    }
  }
}
