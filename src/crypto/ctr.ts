// AES-128 in counter mode with a 128-bit counter whose byte order is a parameter: Wirepas
// platforms increment the first byte of the counter block first (little-endian, the default),
// nRF9160 platforms the last byte first (big-endian). The counter wraps modulo 2^128.
import { OtaflashError } from '../errors';
import { aes128EncryptBlock, expandAes128Key, type Aes128Key } from './aes128';

export type CounterOrder = 'little' | 'big';

export function checkCounterOrder(order: unknown, what = 'counter order'): asserts order is CounterOrder {
  if (order !== 'little' && order !== 'big') {
    throw new OtaflashError('CRYPTO_BAD_ARGUMENT', `${what} must be 'little' or 'big', got ${JSON.stringify(order)}`);
  }
}

/**
 * One keystream, applied byte by byte in order (a partial block's unused keystream carries over to
 * the next call, as in pycryptodome), and seekable so one item of a file can be decrypted alone.
 */
export class AesCtr {
  private readonly key: Aes128Key;
  private readonly icb: Uint8Array;
  private readonly order: CounterOrder;
  private readonly counter = new Uint8Array(16);
  private readonly stream = new Uint8Array(16);
  /** Bytes of `stream` already used; 16 means the next byte needs a new block. */
  private used = 16;

  constructor(key: Uint8Array, icb: Uint8Array, order: CounterOrder = 'little') {
    this.key = expandAes128Key(key, 'encryption key');
    if (!(icb instanceof Uint8Array) || icb.length !== 16) throw new OtaflashError('CRYPTO_BAD_ARGUMENT', 'the initial counter block must be 16 bytes');
    checkCounterOrder(order);
    this.icb = icb.slice();
    this.order = order;
    this.counter.set(this.icb);
  }

  /** Moves to byte `offset` of the keystream (counter = ICB + floor(offset / 16)). */
  seek(offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new OtaflashError('CRYPTO_BAD_ARGUMENT', `keystream offset must be a non-negative integer, got ${offset}`);
    this.counter.set(this.icb);
    this.add(Math.floor(offset / 16));
    const within = offset % 16;
    if (within === 0) this.used = 16;
    else {
      this.nextBlock();
      this.used = within;
    }
  }

  /** XORs the keystream into data[start..end) in place. */
  apply(data: Uint8Array, start = 0, end = data.length): void {
    const s = this.stream;
    let i = start;
    // Finish a block left partly used by the previous call.
    while (this.used < 16 && i < end) data[i++] ^= s[this.used++];
    // Whole blocks: the common case, kept free of property writes per byte.
    while (end - i >= 16) {
      this.nextBlock();
      for (let k = 0; k < 16; k++) data[i + k] ^= s[k];
      i += 16;
      this.used = 16;
    }
    if (i < end) {
      this.nextBlock();
      while (i < end) data[i++] ^= s[this.used++];
    }
  }

  private nextBlock(): void {
    aes128EncryptBlock(this.key, this.counter, 0, this.stream, 0);
    this.used = 0;
    this.add(1);
  }

  /** counter += n modulo 2^128, n < 2^53, carrying in the platform's byte order. */
  private add(n: number): void {
    const c = this.counter;
    const little = this.order === 'little';
    let carry = n;
    for (let k = 0; k < 16 && carry > 0; k++) {
      const at = little ? k : 15 - k;
      const sum = c[at] + (carry % 256);
      c[at] = sum & 0xff;
      carry = Math.floor(carry / 256) + (sum >>> 8);
    }
  }
}
