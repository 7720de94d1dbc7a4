/**
 * What a driver knows to be erased: per sector, the offset from which the rest of the sector is
 * erased (eraseSize when nothing is known). One suffix per sector is enough for the case that
 * matters, sequential writes into freshly erased sectors, and costs one Int32Array.
 */
export class ErasedMap {
  private readonly from: Int32Array;

  constructor(
    sectors: number,
    private readonly eraseSize: number,
    private readonly shift: number,
    allErased: boolean,
  ) {
    this.from = new Int32Array(sectors);
    if (!allErased) this.from.fill(eraseSize);
  }

  /** True when every byte of [offset, offset + len) is known erased (len > 0). */
  covers(offset: number, len: number): boolean {
    const shift = this.shift;
    const first = offset >>> shift;
    if ((offset & (this.eraseSize - 1)) < this.from[first]) return false;
    const last = (offset + len - 1) >>> shift;
    for (let s = first + 1; s <= last; s++) if (this.from[s] !== 0) return false;
    return true;
  }

  /** After a program of [offset, offset + len): only bytes past its end (in its last sector) can still be known erased. */
  programmed(offset: number, len: number): void {
    const shift = this.shift;
    const end = offset + len;
    const last = (end - 1) >>> shift;
    for (let s = offset >>> shift; s < last; s++) this.from[s] = this.eraseSize;
    const tail = end - (last << shift);
    if (this.from[last] < tail) this.from[last] = tail;
  }

  /** Sectors [first, end) were erased. */
  erased(first: number, end: number): void {
    for (let s = first; s < end; s++) this.from[s] = 0;
  }

  /** Bytes of [offset, offset + len) changed behind the program path: forget those sectors. */
  unknown(offset: number, len: number): void {
    const last = (offset + len - 1) >>> this.shift;
    for (let s = offset >>> this.shift; s <= last; s++) this.from[s] = this.eraseSize;
  }

  /** Sector s now holds known contents: erased or not. */
  setSector(s: number, erased: boolean): void {
    this.from[s] = erased ? 0 : this.eraseSize;
  }
}
