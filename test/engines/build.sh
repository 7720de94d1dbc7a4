#!/usr/bin/env bash
# Builds the small JS engines that the device scenario runs in.
#   build.sh [jerry|espruino|duktape|all] [OUT]      (OUT default: ./engines-build)
# The engine source tarballs are read from ENGINES_SRC (default: this folder); the host programs and the
# board file from this folder. (otaflash's copy: ENGINES_SRC, and hostSha256 in the hosts, are its additions.)
# jerry:    JerryScript's command line, es.next profile, one binary per heap size in JERRY_HEAPS (KiB; the heap
#           is fixed when it is compiled), with jerry-host.c added: a global `hostFlash` (an ArrayBuffer kept
#           outside the JS heap, like a flash chip), `heapStats()` and `hostSha256()`. -> OUT/jerry/h<KiB>/bin/jerry
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
  for H in $JERRY_HEAPS; do
    local cp=OFF; [ "$H" -gt 512 ] && cp=ON   # 16-bit compressed pointers reach 512 KiB
    [ -x "$OUT/jerry/h$H/bin/jerry" ] && continue
    python3 "$src/tools/build.py" --builddir="$OUT/jerry/h$H" --profile=es.next --mem-heap="$H" \
      --cpointer-32bit=$cp --mem-stats=ON --line-info=OFF --error-messages=ON --jerry-cmdline=ON -j "$JOBS" \
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
