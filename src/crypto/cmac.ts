// AES-CMAC (RFC 4493, NIST SP 800-38B; also called OMAC1) over AES-128, fed in pieces of any size
// so a scratchpad is authenticated while it streams past, never held whole.
import { OtaflashError } from '../errors';
import { aes128EncryptBlock, expandAes128Key, type Aes128Key } from './aes128';

/** Doubling in GF(2^128) with the CMAC polynomial (x^128 + x^7 + x^2 + x + 1): the subkey step. */
function double(block: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 15; i++) out[i] = ((block[i] << 1) | (block[i + 1] >>> 7)) & 0xff;
  out[15] = (block[15] << 1) & 0xff;
  if (block[0] & 0x80) out[15] ^= 0x87;
  return out;
}

export class AesCmac {
  private readonly key: Aes128Key;
  private readonly k1: Uint8Array;
  private readonly k2: Uint8Array;
  /** Running CBC state. */
  private readonly x = new Uint8Array(16);
  /** Bytes not yet folded in: the last block is held back until we know whether it is the last. */
  private readonly pending = new Uint8Array(16);
  private pendingLength = 0;
  private finished = false;

  constructor(key: Uint8Array) {
    this.key = expandAes128Key(key, 'CMAC key');
    const l = new Uint8Array(16);
    aes128EncryptBlock(this.key, l, 0, l, 0);
    this.k1 = double(l);
    this.k2 = double(this.k1);
  }

  update(data: Uint8Array): this {
    if (this.finished) throw new OtaflashError('CRYPTO_BAD_STATE', 'AesCmac.update() after digest()');
    let i = 0;
    const n = data.length;
    while (i < n) {
      if (this.pendingLength === 16) {
        // More data follows, so the held block is not the last: fold it in.
        const x = this.x;
        const p = this.pending;
        for (let j = 0; j < 16; j++) x[j] ^= p[j];
        aes128EncryptBlock(this.key, x, 0, x, 0);
        this.pendingLength = 0;
      }
      const take = Math.min(16 - this.pendingLength, n - i);
      this.pending.set(data.subarray(i, i + take), this.pendingLength);
      this.pendingLength += take;
      i += take;
    }
    return this;
  }

  /** The 16-byte tag. The object cannot be fed after this. */
  digest(): Uint8Array {
    if (this.finished) throw new OtaflashError('CRYPTO_BAD_STATE', 'AesCmac.digest() called twice');
    this.finished = true;
    const last = new Uint8Array(16);
    let sub: Uint8Array;
    if (this.pendingLength === 16) {
      last.set(this.pending);
      sub = this.k1;
    } else {
      // An incomplete (or empty) last block is padded with 0x80 then zeros and takes K2.
      last.set(this.pending.subarray(0, this.pendingLength));
      last[this.pendingLength] = 0x80;
      sub = this.k2;
    }
    const x = this.x;
    for (let j = 0; j < 16; j++) x[j] ^= last[j] ^ sub[j];
    const tag = new Uint8Array(16);
    aes128EncryptBlock(this.key, x, 0, tag, 0);
    return tag;
  }
}

export function aesCmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return new AesCmac(key).update(data).digest();
}

/** Compares two tags without stopping at the first difference. */
export function equalTags(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
