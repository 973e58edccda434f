#!/bin/sh
# End-to-end checks of `kytkin issuer-sim`: cards file, port file, answers through `kytkin term`,
# SIGUSR1/SIGUSR2 down and up, the counters printed on SIGTERM, bad flags and bad cards lines.
# Usage: cli_issuer_sim_test.sh path/to/kytkin
set -u
KYTKIN="$1"
if [ ! -x "$KYTKIN" ]; then
  echo "cli_issuer_sim_test: $KYTKIN not built; skipped"
  exit 77
fi
TMP=$(mktemp -d)
SIM_PID=
trap '[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null; rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

cat >"$TMP/cards.csv" <<'CSV'
# pan,currency,balance_minor
4111111111111111,978,10000
CSV

"$KYTKIN" issuer-sim --cards "$TMP/cards.csv" --port-file "$TMP/port" >"$TMP/stats" 2>"$TMP/log" &
SIM_PID=$!
i=0
while [ ! -s "$TMP/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -s "$TMP/port" ] || { echo "FAIL: no port file; log: $(cat "$TMP/log")"; exit 1; }
PORT=$(cat "$TMP/port")
HOST="127.0.0.1:$PORT"

term() { "$KYTKIN" term "$@" --host "$HOST" --timeout-ms 1000 >"$TMP/out" 2>"$TMP/err"; }

term authorize --pan 4111111111111111 --amount 60.00 --stan 1
[ $? -eq 0 ] || fail "authorize: $(cat "$TMP/out" "$TMP/err")"
term authorize --pan 4111111111111111 --amount 60.00 --stan 2
grep -q "(51)" "$TMP/out" || fail "second authorize should be 51: $(cat "$TMP/out")"
term authorize --pan 5500000000000004 --amount 1.00 --stan 3
grep -q "(14)" "$TMP/out" || fail "unknown card should be 14: $(cat "$TMP/out")"
term echo --stan 4
[ $? -eq 0 ] || fail "echo: $(cat "$TMP/out" "$TMP/err")"

kill -USR1 "$SIM_PID"
sleep 0.2
term echo --stan 5
[ $? -ne 0 ] || fail "echo while down should fail"
kill -USR2 "$SIM_PID"
sleep 0.2
term echo --stan 6
[ $? -eq 0 ] || fail "echo after up: $(cat "$TMP/out" "$TMP/err")"

kill -TERM "$SIM_PID"
wait "$SIM_PID" || fail "issuer-sim exit code $?"
SIM_PID=
grep -q '"approvals":1,"declines":2' "$TMP/stats" || fail "stats: $(cat "$TMP/stats")"
grep -q '"refused_while_down":1' "$TMP/stats" || fail "stats: $(cat "$TMP/stats")"
grep -q '4111111111111111' "$TMP/log" "$TMP/stats" && fail "a clear PAN was printed"

# Bad usage names the flag; a bad cards line names file and line.
"$KYTKIN" issuer-sim --drop-share 1.5 >/dev/null 2>"$TMP/err"
[ $? -eq 2 ] && grep -q -- "--drop-share" "$TMP/err" || fail "bad share: $(cat "$TMP/err")"
printf '4111111111111111,978,100\n4111111111111112,978,100\n' >"$TMP/bad.csv"
"$KYTKIN" issuer-sim --cards "$TMP/bad.csv" >/dev/null 2>"$TMP/err"
[ $? -eq 1 ] && grep -q "bad.csv:2:" "$TMP/err" || fail "bad card line: $(cat "$TMP/err")"

if [ $failures -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "cli_issuer_sim_test: ok"
