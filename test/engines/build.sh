#!/usr/bin/env bash
# Builds the small JS engines that the device scenario runs in.
#   build.sh [jerry|espruino|duktape|all] [OUT]      (OUT default: ./engines-build)
# The engine source tarballs are read from ENGINES_SRC (default: this folder); the host programs and the
# board file from this folder. (otaflash's copy: ENGINES_SRC, and hostSha256 in the hosts, are its additions.)
# jerry:    JerryScript's command line, es.next profile, one binary per heap size in JERRY_HEAPS (KiB; the heap
#           is fixed when it is compiled), with jerry-host.c added: a global `hostFlash` (an ArrayBuffer kept
#           outside the JS heap, like a flash chip), `heapStats()` and `hostSha256()`. -> OUT/jerry/h<KiB>/bin/jerry
#           With snapshots (otaflash's addition): bin/jerry-snapshot, and `jerry --exec-snapshot FILE` executes the
#           snapshot in place from a buffer kept outside the heap (code in flash) instead of copying it in.
# espruino: Espruino's Linux build (board espruino-board-LINUX_OTA.py: no network/graphics, 8 MiB emulated flash
#           for require("Flash"), growable variables). -> OUT/espruino/espruino
# duktape:  Debian's Duktape 2.7 (apt-get install -y duktape-dev) with duk-host.c: `hostFlash`, `heapStats()`,
#           and an allocation limit DUK_HEAP_KIB. -> OUT/duktape/duk-host
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$(cd "${ENGINES_SRC:-$HERE}" && pwd)"
WHAT="${1:-all}"; OUT="$(mkdir -p "${2:-engines-build}" && cd "${2:-engines-build}" && pwd)"
JOBS="${JOBS:-2}"; JERRY_HEAPS="${JERRY_HEAPS:-128 160 192 224 256 512}"
mkdir -p "$OUT/src"

unpack() { # NAME -> prints the unpacked source dir
  local tgz; tgz=$(ls "$SRC/$1"-*.tar.gz | head -n 1)
  [ -d "$OUT/src/$1" ] || tar -xzf "$tgz" -C "$OUT/src"
  echo "$OUT/src/$1"
}

build_jerry() {
  local src; src=$(unpack jerryscript)
  if ! grep -q harness_register "$src/jerry-main/main-desktop.c"; then
    python3 - "$src/jerry-main/main-desktop.c" "$HERE/jerry-host.c" "$HERE/host-sha256.h" <<'PY'
import sys
p, h = sys.argv[1], open(sys.argv[3]).read() + '\n' + open(sys.argv[2]).read()
s = open(p).read()
s = s.replace('static void\nmain_init_engine', h + '\nstatic void\nmain_init_engine', 1)
s = s.replace('  jerryx_register_global ("createRealm", jerryx_handler_create_realm);\n',
              '  jerryx_register_global ("createRealm", jerryx_handler_create_realm);\n  harness_register ();\n', 1)
assert s.count('harness_register ();') == 1 and 'harness_register (void)' in s, 'could not add jerry-host.c to main-desktop.c'
open(p, 'w').write(s)
PY
  fi
  # --exec-snapshot runs a snapshot in place, as from memory-mapped flash: jerry's own path
  # (jerryx_source_exec_snapshot) copies the bytecode into the JS heap and frees the file's buffer.
  if ! grep -q harness_exec_snapshot "$src/jerry-main/main-desktop.c"; then
    python3 - "$src/jerry-main/main-desktop.c" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
fn = '''
/* otaflash: the snapshot file stands for code in flash, mapped into the address space outside the JS
 * heap. Its buffer is never freed (the functions it defines point into it) and it is executed with
 * flags 0, not JERRY_SNAPSHOT_EXEC_COPY_DATA, so the bytecode stays in the buffer: only each function's
 * header and literal table, and the literals (strings, numbers), are made on the heap. */
static jerry_value_t
harness_exec_snapshot (const char *path_p, size_t function_index)
{
  FILE *f = fopen (path_p, "rb");
  if (f == NULL)
  {
    return jerry_throw_sz (JERRY_ERROR_SYNTAX, "Snapshot file not found");
  }
  fseek (f, 0, SEEK_END);
  long size = ftell (f);
  fseek (f, 0, SEEK_SET);
  uint32_t *flash_p = (uint32_t *) malloc ((size_t) size + 4); /* malloc: aligned as the snapshot needs */
  size_t got = flash_p ? fread (flash_p, 1, (size_t) size, f) : 0;
  fclose (f);
  if (flash_p == NULL || got != (size_t) size)
  {
    return jerry_throw_sz (JERRY_ERROR_SYNTAX, "Snapshot file unreadable");
  }
  return jerry_exec_snapshot (flash_p, (size_t) size, function_index, 0, NULL);
}
'''
s = s.replace('static void\nmain_init_engine', fn + '\nstatic void\nmain_init_engine', 1)
s = s.replace('result = jerryx_source_exec_snapshot (file_path_p,', 'result = harness_exec_snapshot (file_path_p,', 1)
assert s.count('harness_exec_snapshot (') == 2, 'could not patch the snapshot exec path of main-desktop.c'
open(p, 'w').write(s)
PY
  fi
  # HOST_MAGIC_STRINGS=FILE (a `jerry-snapshot litdump` list) registers a snapshot's literals as external
  # magic strings, the way a device keeps them in flash beside the snapshot: they are then not made on the heap.
  if ! grep -q harness_load_magic_strings "$src/jerry-main/main-desktop.c"; then
    python3 - "$src/jerry-main/main-desktop.c" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
fn = '''
/* otaflash: HOST_MAGIC_STRINGS names a literal list ("<length> <bytes>\\n" each, sorted, as `jerry-snapshot
 * litdump` writes it). Its buffer and the tables over it stay allocated for the engine's life outside the
 * heap (flash on a device) and are registered before any script runs. */
static void
harness_load_magic_strings (void)
{
  const char *path_p = getenv ("HOST_MAGIC_STRINGS");
  if (path_p == NULL || path_p[0] == 0)
  {
    return;
  }
  FILE *f = fopen (path_p, "rb");
  if (f == NULL)
  {
    jerry_log (JERRY_LOG_LEVEL_ERROR, "HOST_MAGIC_STRINGS: cannot open %s\\n", path_p);
    return;
  }
  fseek (f, 0, SEEK_END);
  long size = ftell (f);
  fseek (f, 0, SEEK_SET);
  char *list_p = (char *) malloc ((size_t) size + 1);
  size_t got = list_p ? fread (list_p, 1, (size_t) size, f) : 0;
  fclose (f);
  if (list_p == NULL || got != (size_t) size)
  {
    return;
  }
  list_p[size] = 0;
  uint32_t count = 0;
  for (long i = 0; i < size; i++)
  {
    count += (list_p[i] == '\\n'); /* an upper bound: one entry a line at most */
  }
  const jerry_char_t **items_p = (const jerry_char_t **) malloc ((count + 1) * sizeof (jerry_char_t *));
  jerry_length_t *lengths_p = (jerry_length_t *) malloc ((count + 1) * sizeof (jerry_length_t));
  uint32_t n = 0;
  char *at_p = list_p;
  while (at_p < list_p + size && n <= count)
  {
    char *end_p = NULL;
    jerry_length_t len = (jerry_length_t) strtol (at_p, &end_p, 10);
    if (end_p == at_p || len == 0 || end_p + 1 + len > list_p + size)
    {
      break;
    }
    items_p[n] = (const jerry_char_t *) (end_p + 1);
    lengths_p[n] = len;
    n++;
    at_p = end_p + 1 + len + 1;
  }
  if (n > 0)
  {
    jerry_register_magic_strings (items_p, n, lengths_p);
  }
}
'''
s = s.replace('static void\nmain_init_engine', fn + '\nstatic void\nmain_init_engine', 1)
s = s.replace('  jerry_init (arguments_p->init_flags);\n', '  jerry_init (arguments_p->init_flags);\n  harness_load_magic_strings ();\n', 1)
assert s.count('harness_load_magic_strings (') == 2, 'could not add the magic strings to main-desktop.c'
open(p, 'w').write(s)
PY
  fi
  for H in $JERRY_HEAPS; do
    local cp=OFF; [ "$H" -gt 512 ] && cp=ON   # 16-bit compressed pointers reach 512 KiB
    [ -x "$OUT/jerry/h$H/bin/jerry" ] && continue
    python3 "$src/tools/build.py" --builddir="$OUT/jerry/h$H" --profile=es.next --mem-heap="$H" \
      --cpointer-32bit=$cp --mem-stats=ON --line-info=OFF --error-messages=ON --jerry-cmdline=ON \
      --snapshot-save=ON --snapshot-exec=ON --jerry-cmdline-snapshot=ON -j "$JOBS" \
      > "$OUT/jerry-h$H.log" 2>&1 || { tail -20 "$OUT/jerry-h$H.log"; exit 1; }
    echo "jerry (heap $H KiB): $OUT/jerry/h$H/bin/jerry"
  done
}

build_espruino() {
  local src; src=$(unpack espruino)
  cp "$HERE/espruino-board-LINUX_OTA.py" "$src/boards/LINUX_OTA.py"
  # Espruino's code generators ask git for a version: give the unpacked tree a repository of its own.
  [ -d "$src/.git" ] || (cd "$src" && git init -q && git add -A && git -c user.name=build -c user.email=build@localhost commit -qm source)
  mkdir -p "$src/bin"
  (cd "$src" && make BOARD=LINUX_OTA RELEASE=1 -j"$JOBS" > "$OUT/espruino.log" 2>&1) || { tail -30 "$OUT/espruino.log"; exit 1; }
  mkdir -p "$OUT/espruino" && cp "$src/bin/espruino" "$OUT/espruino/espruino"
  echo "espruino: $OUT/espruino/espruino"
}

build_duktape() {
  [ -f /usr/include/duktape.h ] || { echo "duktape: apt-get install -y duktape-dev first"; return 1; }
  mkdir -p "$OUT/duktape"
  cc -O2 -Wall -I"$HERE" -o "$OUT/duktape/duk-host" "$HERE/duk-host.c" -lduktape -lm
  echo "duktape: $OUT/duktape/duk-host"
}

case "$WHAT" in
  jerry) build_jerry ;; espruino) build_espruino ;; duktape) build_duktape ;;
  all) build_jerry; build_espruino; build_duktape ;;
  *) echo "usage: build.sh [jerry|espruino|duktape|all] [OUT]"; exit 2 ;;
esac
