import { OtaflashError, hex } from '../errors';
import { chipRevisionName, flashModeName, flashSizeName } from '../formats/app-image-header';
import type { ImageReport } from '../formats/app-image-types';
import { inspectImage } from '../formats/app-image-verify';
import { chipIdFromName, chipName } from '../formats/chips';
import { nodeHashes } from '../node/hash';
import { createWasmChecksumXor } from '../node/image-checksum';
import { CliError, type Command, parseArgs, readInput } from './io';

const HELP = `Usage: otaflash image info FILE [--chip NAME] [--require-hash] [--json]

Reads an ESP app or bootloader image (like esptool image_info) and verifies it as the ESP-IDF
bootloader would: header, segments, checksum, appended SHA-256, app description, and a Secure
Boot v2 signature sector at the next 4 KiB boundary if one follows (its CRC is checked, the
signature is not).

  --chip NAME      the chip the image must be for (esp32, esp32c3, ESP32-S3, ...; esp8266 reads the old format)
  --require-hash   refuse an image without an appended SHA-256 (the OTA engine's default policy)
  --json           print the result as JSON

Exit status: 0 valid image, 1 the image fails verification (what could be read is still printed),
2 unusable input (unreadable file, not an image, bad option).`;

const hexBytes = (b: Uint8Array) => Array.from(b, (x) => (x < 16 ? '0' : '') + x.toString(16)).join('');

function toJson(r: ImageReport, fileSize: number): Record<string, unknown> {
  const h = r.header!;
  const v = r.verdict;
  const a = r.appDesc;
  const b = v ? v.bootloaderDesc : null;
  return {
    valid: r.error === null,
    error: r.error ? { code: r.error.code, message: r.error.message } : null,
    fileSize,
    size: v ? v.size : null,
    format: h.format,
    chip: h.chipId,
    chipName: chipName(h.chipId),
    entry: h.entry,
    flashMode: flashModeName(h.flashMode),
    flashSize: flashSizeName(h.flashSize, h.format),
    flashFreq: h.flashFreq,
    minChipRevision: h.minChipRevFull,
    maxChipRevision: h.maxChipRevFull,
    segmentCount: h.segmentCount,
    segments: r.segments.map((s) => ({ loadAddress: s.loadAddress, length: s.length, dataOffset: s.dataOffset })),
    checksumValid: r.checksumValid,
    checksum: v ? v.checksumStored : null,
    checksumCalculated: v ? v.checksumCalculated : null,
    hashAppended: r.hashAppended,
    hashValid: r.hashValid,
    sha256: v && v.sha256 ? hexBytes(v.sha256) : null,
    appDesc: a
      ? {
          version: a.version,
          projectName: a.projectName,
          secureVersion: a.secureVersion,
          idfVersion: a.idfVersion,
          date: a.date,
          time: a.time,
          elfSha256: hexBytes(a.elfSha256),
          minEfuseBlkRev: a.minEfuseBlkRevFull,
          maxEfuseBlkRev: a.maxEfuseBlkRevFull,
        }
      : null,
    bootloaderDesc: b ? { version: b.version, idfVersion: b.idfVersion, dateTime: b.dateTime, secureVersion: b.secureVersion } : null,
    signatures: v ? v.signatures.map((s) => ({ offset: s.offset, version: s.version, scheme: s.scheme, crcValid: s.crcValid, digestValid: s.digestValid, imageDigest: hexBytes(s.imageDigest) })) : [],
  };
}

function toText(r: ImageReport, file: string, fileSize: number): string {
  const h = r.header!;
  const v = r.verdict;
  const out: string[] = [];
  out.push(`file       ${file} (${fileSize} bytes${v ? `, image ${v.size} bytes` : ''})`);
  out.push(`chip       ${chipName(h.chipId)}${h.format === 'esp32' ? ` (id ${h.chipId}), revisions ${chipRevisionName(h.minChipRevFull)} to ${h.maxChipRevFull === 0 || h.maxChipRevFull === 0xffff ? 'any' : chipRevisionName(h.maxChipRevFull)}` : ''}`);
  out.push(`entry      ${hex(h.entry)}`);
  out.push(`flash      ${flashModeName(h.flashMode)}, ${flashSizeName(h.flashSize, h.format)}, frequency code ${hex(h.flashFreq)}`);
  out.push(`segments   ${h.segmentCount} in the header, ${r.segments.length} read`);
  r.segments.forEach((s, i) => {
    out.push(`  ${String(i).padStart(2)}  load ${hex(s.loadAddress).padEnd(10)}  length ${hex(s.length).padEnd(8)}  data at ${hex(s.dataOffset)}`);
  });
  if (v) {
    out.push(`checksum   ${hex(v.checksumStored)} (${v.checksumValid ? 'valid' : `INVALID, calculated ${hex(v.checksumCalculated)}`})`);
    out.push(`sha256     ${v.hashAppended ? `${hexBytes(v.sha256!)} (${v.hashValid ? 'valid' : 'INVALID'})` : 'not appended'}`);
  } else if (r.checksumValid !== null) {
    out.push(`checksum   ${r.checksumValid ? 'valid' : 'INVALID'}`);
  }
  const a = r.appDesc;
  if (a) {
    out.push(`app        ${a.projectName} ${a.version}, ESP-IDF ${a.idfVersion}, secure version ${a.secureVersion}`);
    out.push(`           built ${`${a.date} ${a.time}`.trim() || '(no date)'}, ELF SHA-256 ${hexBytes(a.elfSha256)}`);
  }
  const b = v ? v.bootloaderDesc : null;
  if (b) out.push(`bootloader version ${b.version}, ESP-IDF ${b.idfVersion}, built ${b.dateTime}, secure version ${b.secureVersion}`);
  if (v && v.signatures.length > 0) {
    out.push(`signatures sector at ${hex(v.signatureOffset!)}: ${v.signatures.map((s, i) => `#${i} ${s.scheme} (CRC ${s.crcValid ? 'ok' : 'BAD'}, signed digest ${s.digestValid ? 'matches' : 'DIFFERS'})`).join(', ')}`);
  }
  out.push(`result     ${r.error ? `INVALID: ${r.error.message} [${r.error.code}]` : 'valid'}`);
  return out.join('\n') + '\n';
}

export const imageInfoCommand: Command = {
  summary: 'show and verify an ESP app or bootloader image (like esptool image_info)',
  help: HELP,
  run(argv, io) {
    const args = parseArgs(argv, { values: ['chip'], booleans: ['json', 'require-hash'] });
    if (args.positional.length !== 1) throw new CliError('expected one FILE (an app or bootloader image)');
    let expectedChip: number | undefined;
    if (typeof args.flags.chip === 'string') {
      expectedChip = chipIdFromName(args.flags.chip);
      if (expectedChip === undefined) throw new CliError(`--chip: unknown chip '${args.flags.chip}' (examples: esp32, esp32c3, esp32s3, esp8266)`);
    }
    const file = args.positional[0];
    const raw = readInput(file, 'image');
    const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    const report = inspectImage(bytes, { hashes: nodeHashes, xor: createWasmChecksumXor() ?? undefined, expectedChip, requireHash: args.flags['require-hash'] === true });
    // Without a header there is nothing to show: the input is not an image (exit 2 via the dispatcher).
    if (!report.header) throw report.error ?? new OtaflashError('IMAGE_TRUNCATED', 'no image header');
    io.stdout(args.flags.json ? JSON.stringify(toJson(report, bytes.length), null, 2) + '\n' : toText(report, file, bytes.length));
    if (report.error) {
      io.stderr(`otaflash image info: ${file}: ${report.error.message} [${report.error.code}]\n`);
      return 1;
    }
    return 0;
  },
};
