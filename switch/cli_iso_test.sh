#!/bin/sh
# End-to-end checks of `kytkin iso decode|encode` (exit codes, masking, error messages).
# Usage: cli_iso_test.sh path/to/kytkin
set -u
KYTKIN="$1"
if [ ! -x "$KYTKIN" ]; then
  # A build of selected targets (e.g. the sanitizer build) may not include the CLI: skip (77).
  echo "cli_iso_test: $KYTKIN not built; skipped"
  exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect CODE NAME -- command...: runs the command (stdin from $TMP/in), keeps stdout/stderr.
expect() {
  code=$1 name=$2
  shift 3
  "$@" <"$TMP/in" >"$TMP/out" 2>"$TMP/err"
  got=$?
  [ "$got" -eq "$code" ] || fail "$name: exit $got, want $code (stderr: $(cat "$TMP/err"))"
}
contains() { grep -q -- "$2" "$TMP/$1" || fail "$3: $1 lacks '$2': $(cat "$TMP/$1")"; }
lacks() { if grep -q -- "$2" "$TMP/$1"; then fail "$3: $1 contains '$2'"; fi; }

cat >"$TMP/msg.json" <<'JSON'
{"mti":"0100","fields":{"2":"4111111111111111","3":"000000","4":1000,"11":"000123",
 "35":"4111111111111111=25121010000012300000","41":"TERM0001","49":"978",
 "52":"0123456789ABCDEF",
 "55":{"tags":[{"tag":"9F26","value":"0102030405060708"},{"tag":"5A","value":"4111111111111111"},
               {"tag":"70","tags":[{"tag":"9F36","value":"0001"}]}]}}}
JSON

for dialect in iso87-ascii iso87-ascii-bbitmap iso87-bcd; do
  for framing in none binary2 ascii4; do
    : >"$TMP/in"
    expect 0 "encode $dialect $framing" -- "$KYTKIN" iso encode --dialect $dialect --framing $framing "$TMP/msg.json"
    cp "$TMP/out" "$TMP/hex"
    cp "$TMP/hex" "$TMP/in"
    expect 0 "decode $dialect $framing" -- "$KYTKIN" iso decode --dialect $dialect --framing $framing
    contains out '"mti":"0100"' "decode $dialect"
    contains out '"2":"411111\*\*\*\*\*\*1111"' "PAN masked $dialect"
    contains out '"35":"411111\*\*\*\*\*\*1111=\*\*\*\*' "track 2 masked $dialect"
    contains out '"52":"<masked>"' "PIN block masked $dialect"
    contains out '"tag":"9F26","name":"Application Cryptogram","value":"0102030405060708"' "DE 55 tags $dialect"
    contains out '"value":"411111\*\*\*\*\*\*1111"' "tag 5A masked $dialect"
    lacks out '4111111111111111' "no clear PAN in output $dialect $framing"
    lacks out '0123456789ABCDEF' "no PIN block in output $dialect $framing"
  done
done

# Two framed messages in one input: two JSON lines.
"$KYTKIN" iso encode --dialect iso87-ascii --framing binary2 "$TMP/msg.json" >"$TMP/one"
cat "$TMP/one" "$TMP/one" >"$TMP/in"
expect 0 "decode two frames" -- "$KYTKIN" iso decode --dialect iso87-ascii --framing binary2
[ "$(wc -l <"$TMP/out")" -eq 2 ] || fail "two frames: want 2 lines, got $(wc -l <"$TMP/out")"

# Bad input: the message names the field and the offset; exit 1.
printf '0100 6000000000000000 16 4111111111111111 00A000' | tr -d ' ' | xxd -p | tr -d '\n' >"$TMP/in"
expect 1 "non-digit in DE 3" -- "$KYTKIN" iso decode --dialect iso87-ascii
contains err 'field 3 (Processing code) at offset 38' "non-digit names field and offset"
contains err 'MTI 0100' "non-digit reports the MTI"

printf '30313030' >"$TMP/in"  # "0100" and no bitmap
expect 1 "truncated bitmap" -- "$KYTKIN" iso decode --dialect iso87-ascii
contains err 'bitmap at offset 4: truncated' "truncated bitmap"

printf 'zz' >"$TMP/in"
expect 1 "not hex" -- "$KYTKIN" iso decode --dialect iso87-ascii
contains err 'character 0 is not a hex digit' "not hex"

echo '{"mti":"0100","fields":{"4":"12X"}}' >"$TMP/in"
expect 1 "encode bad field" -- "$KYTKIN" iso encode --dialect iso87-ascii
contains err 'fields.4' "encode error names the field"

# Usage errors: exit 2.
: >"$TMP/in"
expect 2 "no dialect" -- "$KYTKIN" iso decode
expect 2 "unknown dialect" -- "$KYTKIN" iso decode --dialect nope
expect 2 "bad framing" -- "$KYTKIN" iso decode --dialect iso87-ascii --framing nac
expect 2 "no subcommand" -- "$KYTKIN" iso

# A custom dialect file.
cp "$TMP/msg.json" "$TMP/in"
expect 0 "custom dialect encode" -- "$KYTKIN" iso encode --dialect-file "$(dirname "$0")/../iso8583/testdata/example-dialect.json"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "cli_iso_test: all checks passed"
