// The partition codecs inside a bare QuickJS context (no TextEncoder/TextDecoder, no console, no Node):
// CSV -> binary -> CSV there must give the same bytes and text as the tool's vectors.
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bundleContext } from '../device/qjs';

const DIR = fileURLToPath(new URL('../fixtures/partition-tables/', import.meta.url));
if (!fs.existsSync(DIR)) throw new Error(`conformance vectors missing: ${DIR} (the repository's test/fixtures folder)`);

// Inputs with UTF-8 labels, custom types, bootloader rows and every data subtype.
const CASES: Array<[string, string]> = [
  ['edge_labels', '{}'],
  ['edge_custom_types', '{}'],
  ['edge_data_subtypes', '{}'],
  ['edge_bootloader_types', '{ primaryBootloaderOffset: 0x1000 }'],
  ['partitions_two_ota', '{}'],
];

test('CSV -> binary -> CSV in QuickJS matches the tool byte for byte', async () => {
  const { rt, ctx } = await bundleContext();
  try {
    assert.is(ctx.dump(ctx.unwrapResult(ctx.evalCode('typeof TextEncoder + typeof console'))), 'undefinedundefined');
    for (const [name, opts] of CASES) {
      const csv = fs.readFileSync(DIR + name + '.csv', 'utf8');
      const code = `(function () {
        var t = OtaFlash.parsePartitionCsv(${JSON.stringify(csv)}, ${opts});
        var bin = OtaFlash.encodePartitionTable(t);
        var hex = '';
        for (var i = 0; i < bin.length; i++) hex += (bin[i] < 16 ? '0' : '') + bin[i].toString(16);
        var back = OtaFlash.formatPartitionCsv(OtaFlash.decodePartitionTable(bin));
        var err = '';
        try { OtaFlash.parsePartitionCsv('x, data, fat, 0x9000, 024K'); } catch (e) { err = e.code + ': ' + e.message; }
        return { hex: hex, back: back, err: err };
      })()`;
      const r = ctx.evalCode(code, name + '.js', { type: 'global' });
      if (r.error) throw new Error(name + ': ' + JSON.stringify(ctx.dump(r.error)));
      const out = ctx.dump(r.value) as { hex: string; back: string; err: string };
      r.value.dispose();
      assert.is(out.hex, Buffer.from(fs.readFileSync(DIR + name + '.bin')).toString('hex'), name);
      assert.is(out.back, fs.readFileSync(DIR + name + '.roundtrip.csv', 'utf8'), name);
      assert.is(out.err, 'PARTITION_BAD_VALUE: Error at line 1: Invalid field value 024');
    }
  } finally {
    ctx.dispose();
    rt.dispose();
  }
});

test.run();
