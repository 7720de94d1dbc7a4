#!/usr/bin/env bash
# Developer check, not a test: signs unsigned fixture images with `otaflash image sign` and asks
# Espressif's reference tool, espsecure 5.3.1, whether it accepts them; then signs the same images with
# `espsecure sign-data` and compares the two signature sectors field by field (only the randomized
# signature bytes, and the CRC that covers them, may differ; V1 files must be identical, as both sign
# with RFC 6979). Tests and CI never run this: it needs esptool's source, which CI cannot fetch.
#
# Getting espsecure 5.3.1 (pip is not needed):
#   clone espressif/esptool from GitHub, then: mkdir /tmp/esptool-5.3.1 &&
#     git -C esptool archive v5.3.1 | tar -x -C /tmp/esptool-5.3.1
#   (or any checkout of tag v5.3.1, commit 0d2dfefe029eb48c23ddde61f9118b32d39dc7b9)
#   Debian (bookworm) packages: apt-get install -y python3-cryptography python3-ecdsa python3-bitstring \
#     python3-serial python3-yaml python3-intelhex python3-click python3-rich-click
#   (python3-reedsolo is not in bookworm; espsecure does not import it.)
#   Bookworm's python3-cryptography is 38.0.4; espsecure 5.3.1 asks for >= 43, and its V1 sign-data
#   needs ECDSA(deterministic_signing=True) (cryptography >= 42), so with Debian's Python the V1
#   sign-data comparison is skipped. To run it too, use a Python 3.11 that has cryptography >= 43 and
#   put the Debian pure-Python packages on its path, e.g.:
#     mkdir /tmp/espsecure-deps; for p in rich_click rich markdown_it mdurl pygments bitstring.py serial \
#       intelhex ecdsa click; do ln -s /usr/lib/python3/dist-packages/$p /tmp/espsecure-deps/; done
#     PYTHON=/path/to/python3.11 ESPSECURE_PYTHONPATH=/tmp/espsecure-deps scripts/check-espsecure.sh
#
# Usage: ESPTOOL_SRC=/tmp/esptool-5.3.1 [PYTHON=/usr/bin/python3] [ESPSECURE_PYTHONPATH=...] scripts/check-espsecure.sh
# Prints one PASS/FAIL/SKIP line per check and a closing count; exit 1 when any check failed.
# Set VERBOSE=1 to print every field comparison; logs stay in $WORK (default: a fresh temp dir).
set -u

: "${ESPTOOL_SRC:?set ESPTOOL_SRC to an esptool v5.3.1 source tree}"
PYTHON=${PYTHON:-/usr/bin/python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/check-espsecure.XXXXXX)}
mkdir -p "$WORK"
KEYS=$ROOT/test/fixtures/signed-images/keys
APPS=$ROOT/test/fixtures/app-images
export PYTHONPATH="$ESPTOOL_SRC${ESPSECURE_PYTHONPATH:+:$ESPSECURE_PYTHONPATH}"

passed=0; failed=0; skipped=0
report() { # report VERDICT NAME LOG
  printf '%-4s %s\n' "$1" "$2"
  case $1 in
    PASS) passed=$((passed + 1)) ;;
    SKIP) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)); [ -n "${3:-}" ] && sed 's/^/     | /' "$3" ;;
  esac
}

espsecure() { (cd "$WORK" && "$PYTHON" -m espsecure "$@"); }
otaflash() { (cd "$ROOT" && npx tsx src/cli/main.ts "$@"); }

if ! espsecure --help > "$WORK/help.log" 2>&1 || ! grep -q 'espsecure v5.3.1' "$WORK/help.log"; then
  echo "espsecure 5.3.1 does not run from ESPTOOL_SRC=$ESPTOOL_SRC with $PYTHON:"; cat "$WORK/help.log"; exit 2
fi
CRYPTO=$("$PYTHON" -c 'import cryptography; print(cryptography.__version__)')
echo "espsecure from $ESPTOOL_SRC ($(git -C "$ESPTOOL_SRC" rev-parse HEAD 2>/dev/null || echo 'not a git checkout')), $PYTHON $("$PYTHON" -c 'import sys; print(sys.version.split()[0])'), cryptography $CRYPTO; work dir $WORK"

# Compares two signed files: V2 field by field over the signature sector (after checking everything
# before it is equal), V1 byte for byte. Written against the block layout, not otaflash's codecs, so
# that a codec bug cannot hide itself.
compare_sectors() { # compare_sectors VERSION OURS THEIRS
  node - "$@" <<'EOF'
const fs = require('fs');
const [version, oursPath, theirsPath] = process.argv.slice(2);
const ours = fs.readFileSync(oursPath), theirs = fs.readFileSync(theirsPath);
let bad = 0;
const line = (name, ok, note) => { if (!ok) bad++; console.log(`${ok ? 'equal' : 'DIFFERS'}  ${name}${note ? ' ' + note : ''}`); };
const same = (a, b) => Buffer.compare(a, b) === 0;
if (version === '1') {
  line(`whole file (${ours.length} / ${theirs.length} bytes)`, same(ours, theirs));
} else {
  line(`file length (${ours.length} / ${theirs.length})`, ours.length === theirs.length);
  const so = ours.length - 4096, st = theirs.length - 4096;
  line(`signed data before the sector (${so} bytes)`, same(ours.subarray(0, so), theirs.subarray(0, st)));
  const A = ours.subarray(so), B = theirs.subarray(st);
  // CRC-32 (zlib's, as espsecure computes it) over the block's first 1196 bytes; Node 20 has no zlib.crc32.
  const crc = (blk) => {
    let c = 0xffffffff;
    for (let i = 0; i < 1196; i++) {
      c ^= blk[i];
      for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
    }
    return (c ^ 0xffffffff) >>> 0;
  };
  let n = 0;
  for (; n < 3 && (A[n * 1216] === 0xe7 || B[n * 1216] === 0xe7); n++) {
    const a = A.subarray(n * 1216, n * 1216 + 1216), b = B.subarray(n * 1216, n * 1216 + 1216);
    const f = (name, start, end) => line(`block ${n} ${name} [${start}..${end})`, same(a.subarray(start, end), b.subarray(start, end)));
    const randomized = (name, start, end) => console.log(`differs  block ${n} ${name} [${start}..${end}) (randomized: ${same(a.subarray(start, end), b.subarray(start, end)) ? 'equal by chance?!' : 'differs, as expected'})`);
    f('magic', 0, 1); f('version', 1, 2); f('sha version', 2, 3); f('reserved', 3, 4);
    if (a[1] === 2) { // RSA-3072
      f('image digest', 4, 36); f('n', 36, 420); f('e', 420, 424); f('r^-1', 424, 808); f("m'", 808, 812);
      randomized('signature', 812, 1196);
    } else { // ECDSA: P-192/P-256 with SHA-256, or P-384 with SHA-384 (longer digest, fields shifted)
      const sha384 = a[2] === 1, d = sha384 ? 52 : 36, coord = sha384 ? 48 : 32;
      const keylen = a[d] === 1 ? 24 : a[d] === 2 ? 32 : 48;
      f('image digest', 4, d); f('curve id', d, d + 1);
      f('public key x', d + 1, d + 1 + coord); f('public key y', d + 1 + coord, d + 1 + 2 * coord);
      const s = d + 1 + 2 * coord;
      randomized('signature r||s', s, s + 2 * keylen);
      if (keylen < coord) f('signature field padding', s + 2 * keylen, s + 2 * coord);
      f('block padding', s + 2 * coord, 1196);
    }
    const own = (blk) => blk.readUInt32LE(1196) === crc(blk);
    line(`block ${n} CRC32 (each matches its own block; values differ with the signature)`, own(a) && own(b));
    f('trailing 16 bytes', 1200, 1216);
  }
  line(`block count (${n})`, n > 0);
  line(`sector after the blocks [${n * 1216}..4096)`, same(A.subarray(n * 1216), B.subarray(n * 1216)));
}
process.exit(bad ? 1 : 0);
EOF
}

# One V2 case: otaflash signs IMAGE with KEYS (appending to an otaflash-signed BASE when given);
# espsecure verifies the result with each key's public and private PEM; espsecure sign-data does the
# same signing and the sectors are compared.
case_v2() { # case_v2 NAME IMAGE "KEY..." ["BASE_KEY..."]
  local name=$1 image=$2 keys=$3 base_keys=${4:-} src ours=$WORK/$1.otaflash.bin theirs=$WORK/$1.espsecure.bin k
  local args=() espargs=() log=$WORK/$1.log
  for k in $keys; do args+=("$KEYS/$k.pem"); espargs+=(--keyfile "$KEYS/$k.pem"); done
  src=$image
  if [ -n "$base_keys" ]; then # --append: both tools append to their own previously signed file
    local bo=() be=()
    for k in $base_keys; do bo+=("$KEYS/$k.pem"); be+=(--keyfile "$KEYS/$k.pem"); done
    otaflash image sign "$image" --key "${bo[@]}" --out "$WORK/$name.base.otaflash.bin" > "$log" 2>&1 &&
      espsecure sign-data --version 2 "${be[@]}" --output "$WORK/$name.base.espsecure.bin" "$image" >> "$log" 2>&1 ||
      { report FAIL "$name: signing the base image" "$log"; return; }
    otaflash image sign "$WORK/$name.base.otaflash.bin" --append --key "${args[@]}" --out "$ours" >> "$log" 2>&1 ||
      { report FAIL "$name: otaflash image sign --append" "$log"; return; }
    espsecure sign-data --version 2 --append-signatures "${espargs[@]}" --output "$theirs" "$WORK/$name.base.espsecure.bin" >> "$log" 2>&1 ||
      { report FAIL "$name: espsecure sign-data --append-signatures" "$log"; return; }
  else
    otaflash image sign "$image" --key "${args[@]}" --out "$ours" > "$log" 2>&1 ||
      { report FAIL "$name: otaflash image sign" "$log"; return; }
    espsecure sign-data --version 2 "${espargs[@]}" --output "$theirs" "$image" >> "$log" 2>&1 ||
      { report FAIL "$name: espsecure sign-data" "$log"; return; }
  fi
  for k in $base_keys $keys; do
    for which in pub.pem pem; do
      local vlog=$WORK/$name.verify.$k.$which.log
      if espsecure verify-signature --version 2 --keyfile "$KEYS/$k.$which" "$ours" > "$vlog" 2>&1; then
        report PASS "$name: espsecure verify-signature --version 2 --keyfile $k.$which"
      else
        report FAIL "$name: espsecure verify-signature --version 2 --keyfile $k.$which" "$vlog"
      fi
    done
  done
  local clog=$WORK/$name.compare.log
  if compare_sectors 2 "$ours" "$theirs" > "$clog" 2>&1; then
    report PASS "$name: sector equals espsecure sign-data's but for the signatures ($(grep -c '^equal' "$clog") fields equal)"
  else
    report FAIL "$name: sector differs from espsecure sign-data's" "$clog"
  fi
  [ "${VERBOSE:-}" = 1 ] && sed 's/^/     . /' "$clog"
}

case_v1() { # case_v1 NAME IMAGE KEY
  local name=$1 image=$2 key=$3 ours=$WORK/$1.otaflash.bin theirs=$WORK/$1.espsecure.bin log=$WORK/$1.log which
  otaflash image sign "$image" --version 1 --key "$KEYS/$key.pem" --out "$ours" > "$log" 2>&1 ||
    { report FAIL "$name: otaflash image sign --version 1" "$log"; return; }
  for which in pub.pem pem pub.raw; do
    local vlog=$WORK/$name.verify.$which.log
    if espsecure verify-signature --version 1 --keyfile "$KEYS/$key.$which" "$ours" > "$vlog" 2>&1; then
      report PASS "$name: espsecure verify-signature --version 1 --keyfile $key.$which"
    else
      report FAIL "$name: espsecure verify-signature --version 1 --keyfile $key.$which" "$vlog"
    fi
  done
  if ! "$PYTHON" -c 'import sys, cryptography; sys.exit(int(cryptography.__version__.split(".")[0]) < 42)'; then
    report SKIP "$name: byte comparison with espsecure sign-data --version 1 (needs cryptography >= 42, have $CRYPTO)"
    return
  fi
  espsecure sign-data --version 1 --keyfile "$KEYS/$key.pem" --output "$theirs" "$image" >> "$log" 2>&1 ||
    { report FAIL "$name: espsecure sign-data --version 1" "$log"; return; }
  local clog=$WORK/$name.compare.log
  if compare_sectors 1 "$ours" "$theirs" > "$clog" 2>&1; then
    report PASS "$name: file identical to espsecure sign-data --version 1's"
  else
    report FAIL "$name: file differs from espsecure sign-data --version 1's" "$clog"
  fi
}

RAM=$APPS/esptool/ram_helloworld
case_v2 v2-rsa3072            "$APPS/esp-serial-flasher/hello_world-esp32c3.bin" "rsa3072-a"
case_v2 v2-ecdsa256           "$APPS/elf2image/coredump-app-esp32c6.bin"          "ecdsa256-a"
case_v2 v2-ecdsa384           "$RAM/helloworld-esp32c5.bin"                       "ecdsa384-a"
case_v2 v2-ecdsa192           "$RAM/helloworld-esp32c2.bin"                       "ecdsa192-a"
case_v2 v2-rsa3072-2-blocks   "$APPS/esp-serial-flasher/hello_world-esp32s3.bin" "rsa3072-a rsa3072-b"
case_v2 v2-rsa3072-3-blocks   "$APPS/esp-serial-flasher/hello_world-esp32s3.bin" "rsa3072-a rsa3072-b rsa3072-c"
case_v2 v2-ecdsa256-2-blocks  "$RAM/helloworld-esp32c6.bin"                       "ecdsa256-a ecdsa256-b"
case_v2 v2-append-rsa3072-b   "$APPS/esp-serial-flasher/hello_world-esp32c3.bin" "rsa3072-b" "rsa3072-a"
case_v2 v2-append-rsa3072-c   "$RAM/helloworld-esp32h2.bin"                       "rsa3072-c" "rsa3072-a rsa3072-b"
case_v2 v2-append-ecdsa256-b  "$RAM/helloworld-esp32c6.bin"                       "ecdsa256-b" "ecdsa256-a"
case_v1 v1-ecdsa256-zephyr    "$APPS/elf2image/esp32-zephyr.bin"                  "sbv1-ecdsa256-a"
case_v1 v1-ecdsa256-ram       "$RAM/helloworld-esp32.bin"                         "sbv1-ecdsa256-a"

echo "check-espsecure: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
