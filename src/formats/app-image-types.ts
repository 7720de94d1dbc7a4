// Value types of ESP app / bootloader images (esp_image_header_t and what follows it).

/** `esp_image_header_t`: 24 bytes for ESP32-family chips, the first 8 of them for ESP8266. */
export interface ImageHeader {
  /** 'esp32': 24-byte header with the extended part; 'esp8266': the 8-byte legacy header. */
  readonly format: 'esp32' | 'esp8266';
  readonly magic: number;
  readonly segmentCount: number;
  /** spi_mode: 0 QIO, 1 QOUT, 2 DIO, 3 DOUT, 4 FAST_READ, 5 SLOW_READ. */
  readonly flashMode: number;
  /** Low nibble of byte 3 (spi_speed). */
  readonly flashFreq: number;
  /** High nibble of byte 3 (spi_size): 0 = 1MB ... 7 = 128MB. */
  readonly flashSize: number;
  readonly entry: number;
  /** Extended header fields; zero for ESP8266 images. */
  readonly wpPin: number;
  readonly spiPinDrv: readonly [number, number, number];
  /** Chip id (esp_chip_id_t); -1 for ESP8266 images. */
  readonly chipId: number;
  readonly minChipRev: number;
  /** major * 100 + minor. */
  readonly minChipRevFull: number;
  /** major * 100 + minor; 0 and 0xFFFF mean "not set". */
  readonly maxChipRevFull: number;
  /** The 4 reserved bytes at 19..22, kept so an image can be rebuilt byte for byte. */
  readonly reserved: readonly [number, number, number, number];
  /** Raw hash_appended byte (offset 23). Any non-zero value means a SHA-256 follows the checksum. */
  readonly hashAppendedByte: number;
}

/** One segment as found in the image: its data sits at [dataOffset, dataOffset + length). */
export interface ImageSegment {
  readonly loadAddress: number;
  readonly length: number;
  /** Image offset of the first data byte (the 8-byte segment header is just before it). */
  readonly dataOffset: number;
}

/** `esp_app_desc_t` (256 bytes at image offset 0x20 of an app). */
export interface AppDescription {
  readonly secureVersion: number;
  readonly version: string;
  readonly projectName: string;
  readonly time: string;
  readonly date: string;
  readonly idfVersion: string;
  /** 32 bytes; all zero when the build did not fill it in. */
  readonly elfSha256: Uint8Array;
  /** eFuse block revisions, major * 100 + minor; 0 = absent (older IDF). */
  readonly minEfuseBlkRevFull: number;
  readonly maxEfuseBlkRevFull: number;
  /** log2 of the MMU page size (16 = 64 KiB); 0 = not recorded. */
  readonly mmuPageSizeLog2: number;
  /** spi_flash_mode byte (IDF master); 0 = not recorded. */
  readonly spiFlashMode: number;
  /**
   * The reserved areas (reserv1 at 8, reserv3 at 182, reserv2 at 184), present only when not all
   * zero, so a description can be re-encoded byte for byte (esptool's max-value vector fills them with 0xFF).
   */
  readonly reserved?: { readonly at8: Uint8Array; readonly at182: Uint8Array; readonly at184: Uint8Array };
}

/** `esp_bootloader_desc_t` (80 bytes at image offset 0x20 of a bootloader, first byte 0x50). */
export interface BootloaderDescription {
  readonly secureVersion: number;
  readonly version: number;
  readonly idfVersion: string;
  readonly dateTime: string;
}

/** One Secure Boot v2 signature block (1216 bytes) of a signature sector. */
export interface SignatureBlock {
  /** Image offset of the block. */
  readonly offset: number;
  /** 2 = RSA-3072, 3 = ECDSA. */
  readonly version: number;
  readonly scheme: 'rsa3072' | 'ecdsa' | 'unknown';
  /** The image digest the block signs (SHA-256 of everything before the signature sector). */
  readonly imageDigest: Uint8Array;
  readonly crc: number;
  readonly crcValid: boolean;
  /**
   * Whether imageDigest equals the SHA-256 of every byte before the signature sector. Known when the
   * whole input was at hand (verifyImage, inspectImage, verifyImageOnDevice); null from a bare
   * streaming verifier, which keeps no bytes to hash a second time.
   */
  readonly digestValid: boolean | null;
}

/** What a whole image verification concluded. Every field is about bytes actually read. */
export interface ImageVerdict {
  /** Image bytes including the checksum padding and the appended hash (not the signature sector). */
  readonly size: number;
  readonly header: ImageHeader;
  /** Chip id from the header; -1 for ESP8266. */
  readonly chip: number;
  readonly chipName: string;
  readonly entry: number;
  readonly segments: readonly ImageSegment[];
  readonly checksumStored: number;
  readonly checksumCalculated: number;
  readonly checksumValid: boolean;
  readonly hashAppended: boolean;
  /** null when no hash is appended. */
  readonly hashValid: boolean | null;
  /** SHA-256 of [0, size - 32) computed while reading (null when no hash is appended). */
  readonly sha256: Uint8Array | null;
  readonly storedSha256: Uint8Array | null;
  readonly appDesc: AppDescription | null;
  readonly bootloaderDesc: BootloaderDescription | null;
  /** Secure Boot v2 signature blocks found at the first 4 KiB boundary after the image (empty when none). */
  readonly signatures: readonly SignatureBlock[];
  /** Image offset of that signature sector, or null when no signature block was found. */
  readonly signatureOffset: number | null;
}

/**
 * What was read from an image even when it is broken (for `image info`): fields are null where
 * reading never got that far. `error` is the reason it is not a valid image, or null.
 */
export interface ImageReport {
  readonly error: import('../errors').OtaflashError | null;
  readonly verdict: ImageVerdict | null;
  readonly header: ImageHeader | null;
  readonly segments: readonly ImageSegment[];
  readonly checksumValid: boolean | null;
  readonly hashAppended: boolean | null;
  readonly hashValid: boolean | null;
  readonly appDesc: AppDescription | null;
  readonly bytesRead: number;
}

export interface ImageVerifierOptions {
  /** Hash implementation; defaults to defaultHashes(). */
  hashes?: import('../hash/types').HashProvider;
  /** Chip id the image must be for (CHIP_IDS); -1 reads the ESP8266 format. Unset: detect. */
  expectedChip?: number;
  /** The running chip's revision (major * 100 + minor): checked against the header's min/max (IMAGE_CHIP_REVISION). */
  chipRevision?: number;
  /** Largest allowed image (the partition size). */
  maxSize?: number;
  /** Refuse images without an appended SHA-256 (the OTA engine's default policy). */
  requireHash?: boolean;
  /**
   * Flash address of the image's first byte, for the bootloader's check that flash-mapped segments
   * agree with their load address modulo the MMU page. Default 0: the image starts on a page
   * boundary, as every app partition does (they are 64 KiB aligned).
   */
  flashOffset?: number;
  /** Checksum kernel (acc, data, start, end) -> acc; defaults to the one set with setChecksumXor. */
  xor?: (acc: number, data: Uint8Array, start: number, end: number) => number;
}

export interface ImageVerifier {
  /** Feed the next bytes of the image (any size, any split). Throws OtaflashError IMAGE_* as soon as the structure is wrong. */
  update(chunk: Uint8Array): void;
  /** The verdict, or throws the OtaflashError that makes the image invalid. */
  finish(): ImageVerdict;
  /** Like finish() but never throws: what was read, and the error if any. */
  report(): ImageReport;
  /** Bytes fed so far. */
  readonly bytesRead: number;
  /** Total image size once the segment headers have told it (null before), excluding any signature sector. */
  readonly imageSize: number | null;
  /** True once every byte the image (and a signature sector, if one follows) needs has arrived. */
  readonly complete: boolean;
}

export const IMAGE_MAGIC = 0xe9;
export const IMAGE_MAX_SEGMENTS = 16;
export const IMAGE_HEADER_SIZE = 24;
export const ESP8266_HEADER_SIZE = 8;
export const SEGMENT_HEADER_SIZE = 8;
export const CHECKSUM_SEED = 0xef;
export const APP_DESC_MAGIC = 0xabcd5432;
export const APP_DESC_SIZE = 256;
export const BOOTLOADER_DESC_MAGIC = 0x50;
export const BOOTLOADER_DESC_SIZE = 80;
export const SIGNATURE_SECTOR_SIZE = 4096;
export const SIGNATURE_BLOCK_SIZE = 1216;
export const SIGNATURE_BLOCK_MAGIC = 0xe7;
export const SIGNATURE_MAX_BLOCKS = 3;
/** Segment lengths must stay below 16 MiB (ESP_IMAGE_MAX_SEGMENT_LEN on 24-bit-mapped chips). */
export const MAX_SEGMENT_LENGTH = 0x1000000;
