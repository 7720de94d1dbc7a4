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

const SUBTYPE_KEYWORDS: { [type: number]: KeywordTable } = {
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
export function subtypeKeywords(type: number): KeywordTable {
  return SUBTYPE_KEYWORDS[type] || NONE;
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
export function subtypeName(type: number, subtype: number): string {
  const k = keywordName(subtypeKeywords(type), subtype);
  return k !== undefined ? k : String(subtype);
}

/** Every subtype keyword of every type (for the tool's "name looks like a subtype" warning). */
export function allSubtypeKeywords(): string[] {
  const out: string[] = [];
  for (const t of [0x02, 0x03, 0x00, 0x01]) {
    const table = subtypeKeywords(t);
    for (let i = 0; i < table.length; i++) out.push(table[i][0]);
  }
  return out;
}
