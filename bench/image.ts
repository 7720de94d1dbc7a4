// App image verification throughput: the streaming verifier over a 1 MiB image, with the Node and
// the portable hashes, each beside raw SHA-256 of the same bytes measured in the same run.
import { createHash } from 'node:crypto';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { buildAppImage } from '../src/formats/app-image';
import { type ChecksumXor, createImageVerifier, xorInto } from '../src/formats/app-image-verify';
import { portableHashes } from '../src/hash/portable';
import type { HashProvider } from '../src/hash/types';
import { nodeHashes } from '../src/node/hash';
import { createWasmChecksumXor } from '../src/node/image-checksum';
import { type BenchRow, compare, mbps } from './lib';

/** A 1 MiB image (with appended hash) of pseudo-random segment data: nothing compresses or short-cuts. */
export function makeBenchImage(total = 1 << 20): Uint8Array {
  let x = 0x12345678;
  const seg = (n: number) => {
    const d = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      d[i] = x & 0xff;
    }
    return d;
  };
  // Four segments like a real app (DROM, DRAM, IRAM, IROM), sized so the image is exactly `total` bytes.
  const payload = total - 24 - 4 * 8 - 32 - 16;
  const q = (payload >> 2) & ~3;
  const sizes = [q, q, q, payload - 3 * q];
  // The code segment is flash-mapped: its load address must match its flash offset modulo 64 KiB.
  const codeAt = 24 + 4 * 8 + 3 * q;
  const segments = sizes.map((n, i) => ({ loadAddress: [0x3c000020, 0x3fc88000, 0x40380000, 0x42000000 + (codeAt % 0x10000)][i], data: seg(n) }));
  return buildAppImage({ chip: 5, entry: 0x40380080, segments, hashes: nodeHashes });
}

function verify(bytes: Uint8Array, hashes: HashProvider, chunk: number, xor: ChecksumXor): void {
  const v = createImageVerifier({ hashes, requireHash: true, xor });
  if (chunk >= bytes.length) v.update(bytes);
  else for (let at = 0; at < bytes.length; at += chunk) v.update(bytes.subarray(at, at + chunk));
  if (!v.finish().hashValid) throw new Error('bench image did not verify');
}

export function imageSuite(): BenchRow[] {
  const img = makeBenchImage();
  const n = img.length;
  const rawNode = () => {
    createHash('sha256').update(img).digest();
  };
  const rows: BenchRow[] = [];
  const row = (name: string, subject: () => void, baselineName: string, baseline: () => void, target?: number) => {
    const { subjectMs, baselineMs } = compare(subject, baseline, { rounds: 11, minMs: 50 });
    const value = mbps(n, subjectMs);
    const baselineValue = mbps(n, baselineMs);
    const ratio = value / baselineValue;
    rows.push({
      suite: 'image',
      name,
      value,
      unit: 'MB/s',
      baselineName,
      baselineValue,
      ratio,
      ...(target === undefined ? {} : { target: `>= ${target}x`, pass: ratio >= target }),
    });
  };
  // What otaflash/node installs: node:crypto SHA-256 and the WebAssembly SIMD checksum kernel.
  const wasm = createWasmChecksumXor();
  if (!wasm) throw new Error('this Node has no WebAssembly SIMD');
  row('verify, otaflash/node (node:crypto + wasm checksum), one buffer', () => verify(img, nodeHashes, n, wasm), 'node:crypto sha256', rawNode, 0.8);
  // Streaming pays node:crypto's per-update cost (~0.5 us a call); the fair baseline updates in the same chunks.
  row('verify, otaflash/node (node:crypto + wasm checksum), 4 KiB chunks', () => verify(img, nodeHashes, 4096, wasm), 'node:crypto sha256, 4 KiB updates', () => {
    const h = createHash('sha256');
    for (let at = 0; at < n; at += 4096) h.update(img.subarray(at, at + 4096));
    h.digest();
  }, 0.8);
  row('verify, node:crypto + pure-JS checksum, one buffer', () => verify(img, nodeHashes, n, xorInto), 'node:crypto sha256', rawNode);
  row('verify, portable (own SHA-256 + pure-JS checksum), 4 KiB chunks', () => verify(img, portableHashes, 4096, xorInto), 'node:crypto sha256', rawNode);
  row('verify, portable (own SHA-256 + pure-JS checksum), 4 KiB chunks', () => verify(img, portableHashes, 4096, xorInto), '@noble/hashes sha256', () => {
    nobleSha256(img);
  });
  return rows;
}
