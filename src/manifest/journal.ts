// The file-set update's journal: what an update changes, and how far it got. It is written before
// each phase, so recover() after a power cut knows whether to undo (downloads not finished: remove
// the .new files) or to finish (switching: every .new file is complete and synced, roll forward).
import { OtaflashError } from '../errors';
import { utf8Decode, utf8Encode } from '../formats/utf8';
import type { JournalStore } from './file-store';

export type JournalState = 'downloading' | 'switching' | 'done' | 'rolling-back' | 'rolled-back';

export interface JournalRecord {
  state: JournalState;
  /** The version the update brings. */
  version: string;
  /** The device's version before it (its version file; null when it had none). */
  previous: string | null;
  /** Files the update replaces (the old one kept as PATH.bak). */
  replace: string[];
  /** Files the update adds (nothing there before). */
  add: string[];
  /** Files the update moves aside as PATH.bak_del. */
  delete: string[];
  /** Directories the update creates, parents first. */
  dirs: string[];
  /** The firmware target's description when a firmware goes with the files, else null. */
  firmware: string | null;
  /** While downloading: the journal this update replaces, put back if the update is abandoned. */
  prior: JournalRecord | null;
}

const TAG = 'otaflash file-set journal 1';

export function saveJournal(store: JournalStore, record: JournalRecord): void {
  store.save(utf8Encode(JSON.stringify({ format: TAG, ...record })));
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

function check(v: unknown, depth: number): JournalRecord {
  const r = v as Record<string, unknown>;
  const states = ['downloading', 'switching', 'done', 'rolling-back', 'rolled-back'];
  if (
    typeof v !== 'object' || v === null || r.format !== TAG || states.indexOf(r.state as string) < 0 ||
    typeof r.version !== 'string' || !(r.previous === null || typeof r.previous === 'string') ||
    !isStringList(r.replace) || !isStringList(r.add) || !isStringList(r.delete) || !isStringList(r.dirs) ||
    !(r.firmware === null || typeof r.firmware === 'string') || depth > 1
  ) {
    throw new OtaflashError('JOURNAL_INVALID', 'the file-set journal is not one otaflash wrote (or is damaged); refusing to guess what the last update did');
  }
  return {
    state: r.state as JournalState,
    version: r.version,
    previous: r.previous as string | null,
    replace: r.replace,
    add: r.add,
    delete: r.delete,
    dirs: r.dirs,
    firmware: r.firmware as string | null,
    prior: r.prior === null || r.prior === undefined ? null : check(r.prior, depth + 1),
  };
}

export function loadJournal(store: JournalStore): JournalRecord | null {
  const bytes = store.load();
  if (bytes === null) return null;
  const text = utf8Decode(bytes);
  let value: unknown;
  try {
    value = text === null ? undefined : JSON.parse(text);
  } catch {
    value = undefined;
  }
  return check(value, 0);
}
