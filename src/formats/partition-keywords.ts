import { OtaflashError, hex } from '../errors';
// The keyword tables of gen_esp32part.py, in the tool's order: the order shows in its
// "Known keywords" messages, and the first keyword for a value wins when formatting.

export type KeywordTable = ReadonlyArray<readonly [string, number]>;

export const TYPE_KEYWORDS: KeywordTable = [
  ['bootloader', 0x02],
  ['partition_table', 0x03],
  ['app', 0x00],
  ['data', 0x01],
];

function appSubtypes(): Array<[string, number]> {
  const list: Array<[string, number]> = [
    ['factory', 0x00],
    ['test', 0x20],
  ];
  for (let n = 0; n < 16; n++) list.push(['ota_' + n, 0x10 + n]);
  list.push(['tee_0', 0x30], ['tee_1', 0x31]);
  return list;
}

/** Subtype keyword tables per partition type (the tool's SUBTYPES). */
export type SubtypeKeywordTables = { readonly [type: number]: KeywordTable };

const SUBTYPE_KEYWORDS: SubtypeKeywordTables = {
  0x00: appSubtypes(),
  0x01: [
    ['ota', 0x00],
    ['phy', 0x01],
    ['nvs', 0x02],
    ['coredump', 0x03],
    ['nvs_keys', 0x04],
    ['efuse', 0x05],
    ['undefined', 0x06],
    ['esphttpd', 0x80],
    ['fat', 0x81],
    ['spiffs', 0x82],
    ['littlefs', 0x83],
    ['tee_ota', 0x90],
  ],
  0x02: [
    ['primary', 0x00],
    ['ota', 0x01],
    ['recovery', 0x02],
  ],
  0x03: [
    ['primary', 0x00],
    ['ota', 0x01],
  ],
};

const NONE: KeywordTable = [];

/** Subtype keywords known for a type (none for custom types). */
export function subtypeKeywords(type: number, tables: SubtypeKeywordTables = SUBTYPE_KEYWORDS): KeywordTable {
  return tables[type] || NONE;
}

export function keywordValue(table: KeywordTable, word: string): number | undefined {
  const lower = word.toLowerCase();
  for (let i = 0; i < table.length; i++) if (table[i][0] === lower) return table[i][1];
  return undefined;
}

export function keywordName(table: KeywordTable, value: number): string | undefined {
  for (let i = 0; i < table.length; i++) if (table[i][1] === value) return table[i][0];
  return undefined;
}

/** Type as the tool prints it: keyword, else decimal. */
export function typeName(type: number): string {
  const k = keywordName(TYPE_KEYWORDS, type);
  return k !== undefined ? k : String(type);
}

/** Subtype as the tool prints it: keyword for that type, else decimal. */
export function subtypeName(type: number, subtype: number, tables: SubtypeKeywordTables = SUBTYPE_KEYWORDS): string {
  const k = keywordName(subtypeKeywords(type, tables), subtype);
  return k !== undefined ? k : String(subtype);
}

/** Every subtype keyword of every type (for the tool's "name looks like a subtype" warning). */
export function allSubtypeKeywords(tables: SubtypeKeywordTables = SUBTYPE_KEYWORDS): string[] {
  const out: string[] = [];
  for (const t of [0x02, 0x03, 0x00, 0x01]) {
    const table = subtypeKeywords(t, tables);
    for (let i = 0; i < table.length; i++) out.push(table[i][0]);
  }
  return out;
}

/**
 * The keyword tables extended with `--extra-partition-subtypes` entries, each "type, name, value"
 * (type `app` or `data`, value in hex with or without 0x), as the build passes them from the
 * EXTRA_PARTITION_SUBTYPES property. Like the tool: a value already named for that type is
 * refused, a name already known takes the new value, a new name goes last (so it is the name
 * printed for its value). Names are kept as given, and CSV subtypes are looked up lower-cased.
 */
export function extendSubtypeKeywords(entries: readonly string[], base: SubtypeKeywordTables = SUBTYPE_KEYWORDS): SubtypeKeywordTables {
  if (!Array.isArray(entries)) throw new OtaflashError('PARTITION_BAD_ARGUMENT', 'extra partition subtypes must be a list of "type, name, value" strings');
  const out: { [type: number]: KeywordTable } = {};
  for (const k in base) out[k as unknown as number] = base[k as unknown as number];
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    const bad = (why: string): never => {
      throw new OtaflashError('PARTITION_BAD_EXTRA_SUBTYPE', `Error parsing custom subtypes: ${why} (in '${String(entry)}')`, { index: i });
    };
    if (typeof entry !== 'string') bad('each entry must be a "type, name, value" string');
    const fields = String(entry).split(',').map((f: string) => f.trim());
    if (fields.length < 3) bad('expected "type, name, value"');
    const type = fields[0] === 'app' ? 0x00 : fields[0] === 'data' ? 0x01 : bad(`Invalid partition type '${fields[0]}' (app or data)`);
    const digits = fields[2].replace(/^0x/i, '');
    if (!/^[0-9a-f]+(_[0-9a-f]+)*$/i.test(digits)) bad(`subtype value '${fields[2]}' is not a hex number`);
    const value = parseInt(digits.replace(/_/g, ''), 16);
    if (value > 0xff) bad(`subtype value ${fields[2]} does not fit in a byte`);
    const name = fields[1];
    if (name === '') bad('the subtype name is empty');
    const table = out[type] || NONE;
    for (let j = 0; j < table.length; j++) if (table[j][1] === value) bad(`Found duplicate value in partition subtype (${hex(value)} is ${table[j][0]})`);
    const next: Array<readonly [string, number]> = [];
    let replaced = false;
    for (let j = 0; j < table.length; j++) {
      if (table[j][0] === name) {
        next.push([name, value]);
        replaced = true;
      } else next.push(table[j]);
    }
    if (!replaced) next.push([name, value]);
    out[type] = next;
  }
  return out;
}
