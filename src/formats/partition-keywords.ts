import { OtaflashError, hex } from '../errors';
import { pythonInt, pythonStrip } from './partition-python';
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

// The tool's type tables in the order it walks them (SUBTYPES is keyed bootloader, partition_table, app, data).
const TABLE_ORDER = [0x02, 0x03, 0x00, 0x01];

/**
 * The keyword tables extended with `--extra-partition-subtypes` entries, each "type, name, value",
 * as the build passes them from the EXTRA_PARTITION_SUBTYPES property. Like the tool's
 * add_extra_subtypes: the type is any of the four type keywords (exactly as written); the value is
 * Python's int(value, 16) (0x prefix, sign, `_`, Unicode digits), of any size: a value that is no
 * byte only fails when a row uses its name. A value already named for that type is refused; a name
 * already known takes the new value (and the rules tied to that name: see subtypeRoles); a new name
 * goes last (so it is the name printed for its value). Names are kept as given, even empty, and
 * CSV subtypes are looked up lower-cased.
 * Where the tool crashes (too few fields, a value that is no number, a duplicate value, an unknown
 * type) this is PARTITION_BAD_EXTRA_SUBTYPE too.
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
    const fields = String(entry).split(',').map(pythonStrip);
    if (fields.length < 3) bad('expected "type, name, value"');
    const value = pythonInt(fields[2], 16);
    if (value === null) bad(`subtype value '${fields[2]}' is not a hex number`);
    const typeWord = fields[0];
    let type: number | undefined;
    for (let t = 0; t < TYPE_KEYWORDS.length; t++) if (TYPE_KEYWORDS[t][0] === typeWord) type = TYPE_KEYWORDS[t][1];
    const invalidType = (): never => bad(`Invalid partition type '${typeWord}' (bootloader, partition_table, app or data)`);
    // The tool looks the type word up only when the value is already taken in some table.
    for (const t of TABLE_ORDER) {
      const table = out[t] || NONE;
      for (let j = 0; j < table.length; j++) {
        if (table[j][1] !== value) continue;
        if (type === undefined) invalidType();
        if (t === type) bad(`Found duplicate value in partition subtype (${hex(value as number)} is ${table[j][0]})`);
      }
    }
    if (type === undefined) return invalidType();
    const name = fields[1];
    const table = out[type] || NONE;
    const next: Array<readonly [string, number]> = [];
    let replaced = false;
    for (let j = 0; j < table.length; j++) {
      if (table[j][0] === name) {
        next.push([name, value as number]);
        replaced = true;
      } else next.push(table[j]);
    }
    if (!replaced) next.push([name, value as number]);
    out[type] = next;
  }
  return out;
}

/**
 * The subtype values the tool's rules are tied to, looked up by keyword as the tool does
 * (SUBTYPES[DATA_TYPE]['nvs'] ...). An extra subtype that reuses one of these keywords moves the
 * rule with it: after `data, nvs, 0x45` the NVS size rule applies to subtype 0x45, not 2.
 */
export interface SubtypeRoles {
  readonly dataOta: number;
  readonly dataNvs: number;
  readonly dataCoredump: number;
  /** What an empty subtype becomes (for every type but app). */
  readonly dataUndefined: number;
  readonly dataTeeOta: number;
  readonly bootloaderPrimary: number;
  readonly bootloaderRecovery: number;
  readonly partitionTablePrimary: number;
}

function named(tables: SubtypeKeywordTables, type: number, name: string): number {
  const table = tables[type] || NONE;
  for (let i = 0; i < table.length; i++) if (table[i][0] === name) return table[i][1];
  // Names are only ever re-valued, never removed; NaN matches no subtype should a caller drop one.
  return NaN;
}

export function subtypeRoles(tables: SubtypeKeywordTables = SUBTYPE_KEYWORDS): SubtypeRoles {
  return {
    dataOta: named(tables, 0x01, 'ota'),
    dataNvs: named(tables, 0x01, 'nvs'),
    dataCoredump: named(tables, 0x01, 'coredump'),
    dataUndefined: named(tables, 0x01, 'undefined'),
    dataTeeOta: named(tables, 0x01, 'tee_ota'),
    bootloaderPrimary: named(tables, 0x02, 'primary'),
    bootloaderRecovery: named(tables, 0x02, 'recovery'),
    partitionTablePrimary: named(tables, 0x03, 'primary'),
  };
}
