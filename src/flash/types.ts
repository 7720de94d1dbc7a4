/** Geometry of a flash device. All sizes in bytes. */
export interface FlashGeometry {
  readonly size: number;
  /** Smallest erasable unit (sector), e.g. 4096. */
  readonly eraseSize: number;
  /** Program granularity: 1 for SPI NOR, 4..16 for internal flash. Offsets and lengths of writes are multiples of it. */
  readonly writeSize: number;
  /** Value of an erased byte: 0xFF for NOR. */
  readonly eraseValue: number;
  /** Larger erase units the chip offers (for example 32768 and 65536), each a multiple of eraseSize. */
  readonly blockEraseSizes?: readonly number[];
}

/**
 * The synchronous block-device contract. Every method throws OtaflashError on bad arguments
 * (FLASH_OUT_OF_RANGE, FLASH_MISALIGNED, FLASH_BAD_ARGUMENT) and never touches bytes outside [0, size).
 */
export interface BlockDevice extends FlashGeometry {
  /** Fill `into` with the bytes at [offset, offset + into.length). The caller owns the buffer. */
  read(offset: number, into: Uint8Array): void;
  /** Program: NOR rule, may only clear bits. */
  write(offset: number, data: Uint8Array): void;
  /** Erase [offset, offset + length); both aligned to eraseSize. length may be any multiple of eraseSize. */
  erase(offset: number, length: number): void;
  /** Durability point. */
  sync(): void;
}
