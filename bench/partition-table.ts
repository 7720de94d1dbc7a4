// Partition table codecs: each figure beside a baseline measured in the same run. The baseline for
// decoding is the MD5 over the same records (work the decoder cannot avoid); CSV parsing is set
// against decoding the binary it produces.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parsePartitionCsv } from '../src/formats/partition-csv';
import { decodePartitionTable, encodePartitionTable } from '../src/formats/partition-table';
import { portableHashes } from '../src/hash/portable';
import type { HashProvider } from '../src/hash/types';
import { nodeHashes } from '../src/node/hash';
import { type BenchRow, compare } from './lib';

const DIR = fileURLToPath(new URL('../test/fixtures/partition-tables/', import.meta.url));

function row(name: string, baselineName: string, r: { subjectMs: number; baselineMs: number }): BenchRow {
  const value = r.subjectMs * 1000;
  const baselineValue = r.baselineMs * 1000;
  return { suite: 'partition-table', name, value, unit: 'us', baselineName, baselineValue, ratio: baselineValue / value };
}

export function partitionTableSuite(): BenchRow[] {
  const csv = fs.readFileSync(DIR + 'edge_sixteen_ota.csv', 'utf8'); // 19 partitions
  const bin = encodePartitionTable(parsePartitionCsv(csv));
  const n = decodePartitionTable(bin).partitions.length;
  const records = bin.subarray(0, n * 32);
  const rows: BenchRow[] = [];
  const sides: Array<[string, HashProvider]> = [
    ['portable', portableHashes],
    ['node', nodeHashes],
  ];
  for (const [label, hashes] of sides) {
    rows.push(
      row(
        `decode ${n}-entry table (${label} MD5)`,
        `MD5 of its ${n * 32} record bytes`,
        compare(
          () => decodePartitionTable(bin, { hashes }),
          () => hashes.md5().update(records).digest(),
        ),
      ),
    );
  }
  const table = decodePartitionTable(bin, { hashes: nodeHashes });
  rows.push(
    row(
      `encode ${n}-entry table (node MD5)`,
      'decode of the same table',
      compare(
        () => encodePartitionTable(table, { hashes: nodeHashes }),
        () => decodePartitionTable(bin, { hashes: nodeHashes }),
      ),
    ),
  );
  rows.push(
    row(
      `parse ${n}-row CSV with checks (node MD5)`,
      'decode of its binary',
      compare(
        () => parsePartitionCsv(csv, { hashes: nodeHashes }),
        () => decodePartitionTable(bin, { hashes: nodeHashes }),
      ),
    ),
  );
  return rows;
}
