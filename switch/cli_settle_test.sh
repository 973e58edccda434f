#!/bin/sh
# End-to-end checks of `kytkin settle` and `kytkin settlement` on a data dir: a day of
# authorizations over ISO 8583 (a running `kytkin serve --demo`), then the acquirer's batch file:
# full, partial, tip and over-tolerance captures, a capture of a reversed authorization, two
# items for one authorization, a missing authorization, an offline sale, a refund and a
# reversal; totals out of balance, the re-upload in balance, resubmission, cut-over, the report
# and `kytkin ledger verify` / `journal verify` after each step.
# Usage: cli_settle_test.sh path/to/kytkin
set -u
KYTKIN="$1"
TMP=$(mktemp -d)
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
failures=0
D="$TMP/data"

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect() {
  code=$1 name=$2
  shift 3
  "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
  got=$?
  [ "$got" -eq "$code" ] || fail "$name: exit $got, want $code (stdout: $(cat "$TMP/out") stderr: $(cat "$TMP/err"))"
}
contains() { grep -q -- "$2" "$TMP/$1" || fail "$3: $1 lacks '$2': $(cat "$TMP/$1")"; }
lacks() { if grep -q -- "$2" "$TMP/$1"; then fail "$3: $1 contains '$2'"; fi; }
verify() {
  expect 0 "ledger-verify-$1" -- "$KYTKIN" ledger verify --data-dir "$D"
  contains out "ledger ok" "ledger-ok-$1"
  expect 0 "journal-verify-$1" -- "$KYTKIN" journal verify --data-dir "$D"
}
balance() { # account id -> balance as printed by `accounts show`
  "$KYTKIN" accounts show --id "$1" --data-dir "$D" | sed -n 's/.*"balance":"\([-0-9.]*\)".*/\1/p'
}

cat >"$TMP/kytkin.toml" <<'TOML'
[settlement]
capture_tolerance_bps = 2000
capture_tolerance_minor_max = 2000
[settlement.merchants.KYTKINMERCH0001]
account = 1001
fee_bps = 100
fee_fixed_minor = 5
TOML

# --- a day of authorizations -------------------------------------------------------------
mkdir -p "$D"
"$KYTKIN" serve --demo --config "$TMP/kytkin.toml" --data-dir "$D" --iso-listen 127.0.0.1:0 \
  --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 >"$TMP/serve.log" 2>&1 &
SERVER=$!
i=0
while [ ! -s "$D/ports.json" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
PORT=$(sed -n 's/.*"pos":\([0-9]*\).*/\1/p' "$D/ports.json")
[ -n "$PORT" ] || { echo "FAIL: serve did not start: $(cat "$TMP/serve.log")"; exit 1; }
authorize() { # name amount -> sets RRN_name, CODE_name, STAN_name, TIME_name
  "$KYTKIN" term authorize --host "127.0.0.1:$PORT" --pan 4111111111111111 --expiry 3012 \
    --amount "$2" --pin >"$TMP/auth" 2>&1 || fail "authorize $1: $(cat "$TMP/auth")"
  eval "RRN_$1=$(sed -n 's/^ *RRN *//p' "$TMP/auth")"
  eval "CODE_$1=$(sed -n 's/^ *auth code *//p' "$TMP/auth")"
  eval "STAN_$1=$(sed -n 's/^ *STAN *\([0-9]*\).*/\1/p' "$TMP/auth")"
  eval "TIME_$1=$(sed -n 's/^ *STAN.*time *\([0-9]*\).*/\1/p' "$TMP/auth")"
}
authorize a1 12.34
authorize a2 50.00
authorize a3 20.00
authorize a4 10.00
authorize a5 8.00
authorize a6 5.00
authorize a7 6.00
# a5 is reversed online before the batch arrives.
"$KYTKIN" term reverse --host "127.0.0.1:$PORT" --original-mti 0100 --original-stan "$STAN_a5" \
  --original-time "$TIME_a5" >"$TMP/rev" 2>&1 || fail "reverse a5: $(cat "$TMP/rev")"
kill "$SERVER"
wait "$SERVER" 2>/dev/null
SERVER=""
verify after-auths
before=$(balance 2001)

# --- the acquirer's batch: totals out of balance ----------------------------------------
cat >"$TMP/batch.csv" <<CSV
# H,batch_id,acquirer_id,terminal_id,merchant_id,currency
H,B20260615-1,100001,TERM0001,KYTKINMERCH0001,EUR
I,1,capture,12.34,$RRN_a1,$CODE_a1,,000001
I,2,capture,30.00,$RRN_a2,$CODE_a2,,000002
I,3,capture,23.00,$RRN_a3,$CODE_a3,,000003
I,4,capture,15.00,$RRN_a4,$CODE_a4,,000004
I,5,capture,8.00,$RRN_a5,$CODE_a5,,000005
I,6,capture,5.00,$RRN_a6,$CODE_a6,,000006
I,7,capture,5.00,$RRN_a6,$CODE_a6,,000007
I,8,capture,9.00,999999,,,000008
I,9,capture,3.00,,,5555555555554444,000009
I,10,refund,4.00,,,4111111111111111,000010
I,11,capture,6.00,$RRN_a7,$CODE_a7,,000011
I,12,reversal,6.00,$RRN_a7,,,000012
T,6,79.34,1,4.00,1,6.00
CSV
sed 's/^T,6,79.34/T,6,79.35/' "$TMP/batch.csv" >"$TMP/batch-wrong.csv"
expect 1 settle-out-of-balance -- "$KYTKIN" settle "$TMP/batch-wrong.csv" --data-dir "$D" \
  --config "$TMP/kytkin.toml" --report "$TMP/report1.csv"
contains out "95 OUT OF BALANCE, state open" out-of-balance
contains out "kytkin:   6 captures 79.34, 1 refunds 4.00, 1 reversals 6.00, net 69.34" held-totals
contains out "declared: 6 captures 79.35" declared-totals
contains out "12 items, 8 accepted, 4 rejected" summary
cp "$TMP/report1.csv" "$TMP/report"
contains report "B20260615-1,1,capture,12.34,captured,00," item-full
contains report "B20260615-1,2,capture,30.00,captured,00," item-partial
contains report "B20260615-1,3,capture,23.00,captured,00," item-tip
contains report ",4,capture,15.00,rejected,13,capture_over_tolerance," item-over-tolerance
contains report ",5,capture,8.00,rejected,12,already_resolved," item-reversed
contains report ",7,capture,5.00,conflict,94,capture_conflict," item-conflict
contains report ",8,capture,9.00,rejected,25,unknown_original," item-missing
contains report ",9,capture,3.00,force_posted,00,force_posted,false,[0-9]*,555555\*\*\*\*\*\*4444," item-forced
contains report ",10,refund,4.00,refunded,00," item-refund
contains report ",12,reversal,6.00,reversed,00," item-reversal
lacks report "4111111111111111" report-no-clear-pan
lacks report "5555555555554444" report-no-clear-pan-2
after_first=$(balance 2001)
verify after-first-upload
# The file's items were decided in chunks: one journal record carrying each item's outcome.
expect 0 journal-export-chunk -- "$KYTKIN" journal export --data-dir "$D"
contains out '"operation":"settle_chunk"' journal-chunk-record
contains out '"settlement_batch_id":"B20260615-1"' journal-chunk-batch
contains out '{"number":1,"operation":"settle_capture","response_code":"00"' journal-chunk-item
contains out '"number":7,"operation":"settle_capture","response_code":"94","reason":"capture_conflict"' journal-chunk-conflict
lacks out "4111111111111111" journal-no-clear-pan
lacks out "5555555555554444" journal-no-clear-pan-2
expect 0 journal-export-chunk-csv -- "$KYTKIN" journal export --format csv --data-dir "$D"
contains out ',settle_capture,.*,94,capture_conflict,,0,[0-9]*,stl|B20260615-1|7,' journal-csv-item

# --- re-upload in balance: the same items move nothing again ------------------------------
expect 0 settle-in-balance -- "$KYTKIN" settle "$TMP/batch.csv" --data-dir "$D" \
  --config "$TMP/kytkin.toml" --report "$TMP/report2.csv"
contains out "00 in balance, state balanced" in-balance
cp "$TMP/out" "$TMP/settled.out"
cp "$TMP/report2.csv" "$TMP/report"
contains report ",1,capture,12.34,captured,00,none,true," item-duplicate
[ "$(balance 2001)" = "$after_first" ] || fail "re-upload moved money: $(balance 2001) != $after_first"
# The cardholder paid 12.34 + 30.00 + 23.00 + 5.00 (+6.00 captured and reversed) - 4.00 refund.
expected=$(awk "BEGIN { printf \"%.2f\", $before - 12.34 - 30.00 - 23.00 - 5.00 + 4.00 }")
[ "$(balance 2001)" = "$expected" ] || fail "cardholder balance $(balance 2001), want $expected"
verify after-reupload

# --- report, cut-over, payout -------------------------------------------------------------
# The business date kytkin gave the batch (not `date -u`: a run across midnight would differ).
today=$(sed -n 's/^batch B20260615-1 .*business date \([0-9-]*\)).*/\1/p' "$TMP/settled.out")
[ -n "$today" ] || fail "no business date in the settle output: $(cat "$TMP/settled.out")"
expect 0 report-before -- "$KYTKIN" settlement report --date "$today" --data-dir "$D" \
  --config "$TMP/kytkin.toml"
contains out "100001,KYTKINMERCH0001,978,1,0,6,1,1,7334,400,103,6831" report-projected
expect 0 cutover -- "$KYTKIN" settlement cutover --data-dir "$D"
contains out "paid out batch B20260615-1 ($today, reconciled): merchant KYTKINMERCH0001 gross 73.34 refunds 4.00 fee 1.03 net 68.31" cutover-payout
[ "$(balance 1001)" = "68.31" ] || fail "merchant balance $(balance 1001), want 68.31"
[ "$(balance 9002)" = "1.03" ] || fail "fees balance $(balance 9002), want 1.03"
expect 0 report-json -- "$KYTKIN" settlement report --date "$today" --format json --data-dir "$D"
contains out "\"batches_settled\":1" report-settled
contains out "\"net_minor\":6831" report-net
expect 0 show -- "$KYTKIN" settlement show --batch B20260615-1 --data-dir "$D"
contains out '"state":"settled"' show-state
verify after-cutover

# --- resubmission after settlement: same answer, no money -----------------------------------
expect 0 settle-resubmit -- "$KYTKIN" settle "$TMP/batch.csv" --data-dir "$D" \
  --config "$TMP/kytkin.toml" --report "$TMP/report3.csv"
contains out "00 in balance, state settled" resubmit-answer
[ "$(balance 1001)" = "68.31" ] || fail "resubmission paid the merchant again: $(balance 1001)"
expect 0 cutover-again -- "$KYTKIN" settlement cutover --data-dir "$D"
contains out "0 batch(es) paid out" cutover-idempotent
[ "$(balance 1001)" = "68.31" ] || fail "second cut-over paid again: $(balance 1001)"
verify after-resubmit

# --- through a running server: settle --grpc, report / show --http; the data dir is locked ---
"$KYTKIN" serve --demo --config "$TMP/kytkin.toml" --data-dir "$D" --iso-listen 127.0.0.1:0 \
  --grpc-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 >"$TMP/serve2.log" 2>&1 &
SERVER=$!
rm -f "$D/ports.json"
i=0
while [ ! -s "$D/ports.json" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
PORT=$(sed -n 's/.*"pos":\([0-9]*\).*/\1/p' "$D/ports.json")
GRPC=$(sed -n 's/.*"grpc":\([0-9]*\).*/\1/p' "$D/ports.json")
HTTP=$(sed -n 's/.*"http":\([0-9]*\).*/\1/p' "$D/ports.json")
[ -n "$GRPC" ] && [ -n "$HTTP" ] || { echo "FAIL: serve did not restart: $(cat "$TMP/serve2.log")"; exit 1; }
authorize b1 7.00
authorize b2 3.00
cat >"$TMP/live.csv" <<CSV
H,LIVE-1,100001,TERM0001,KYTKINMERCH0001,EUR
I,1,capture,7.00,$RRN_b1,$CODE_b1,,000001
I,2,capture,9.00,$RRN_b2,$CODE_b2,,000002
I,3,capture,2.50,,,5555555555554444,000003
T,2,9.50,0,0.00,0,0.00
CSV
expect 0 settle-grpc -- "$KYTKIN" settle "$TMP/live.csv" --grpc "127.0.0.1:$GRPC" \
  --report "$TMP/report5.csv"
# The cut-overs above moved the business date past today: the server says which it is.
contains out "batch LIVE-1 (acquirer 100001, terminal TERM0001, merchant KYTKINMERCH0001, business date [0-9-]*): 00 in balance, state balanced" grpc-answer
live_date=$(sed -n 's/^batch LIVE-1 .*business date \([0-9-]*\)).*/\1/p' "$TMP/out")
contains out "items rejected: 1, force-posted: 1" grpc-counts
cp "$TMP/report5.csv" "$TMP/report"
contains report "LIVE-1,1,capture,7.00,captured,00,none,false,[1-9][0-9]*,," grpc-item-captured
contains report "LIVE-1,2,capture,9.00,rejected,13,capture_over_tolerance,false,0,," grpc-item-rejected
contains report "LIVE-1,3,capture,2.50,force_posted,00,force_posted,false,[1-9][0-9]*,555555\*\*\*\*\*\*4444," grpc-item-forced
expect 0 settle-grpc-again -- "$KYTKIN" settle "$TMP/live.csv" --grpc "127.0.0.1:$GRPC" \
  --report "$TMP/report6.csv"
cp "$TMP/report6.csv" "$TMP/report"
contains report "LIVE-1,1,capture,7.00,captured,00,none,true," grpc-duplicate
expect 1 settle-locked -- "$KYTKIN" settle "$TMP/live.csv" --data-dir "$D"
contains err "locked by a running .kytkin serve.; settle through it with --grpc HOST:PORT" locked-settle
expect 1 show-locked -- "$KYTKIN" settlement show --batch LIVE-1 --data-dir "$D"
contains err "with --http HOST:PORT" locked-show
expect 0 show-http -- "$KYTKIN" settlement show --batch LIVE-1 --http "127.0.0.1:$HTTP"
contains out '"state":"balanced"' show-http-state
contains out '"captures_minor":950' show-http-held
expect 1 show-http-unknown -- "$KYTKIN" settlement show --batch 'NO|SUCH' --http "127.0.0.1:$HTTP"
contains err "404" show-http-404
contains err "no settlement batch NO|SUCH" show-http-404-id
expect 0 report-http -- "$KYTKIN" settlement report --http "127.0.0.1:$HTTP"  # its date
contains out "100001,KYTKINMERCH0001,978,1,0,2,0,0,950,0,20,930" report-http
expect 0 report-http-json -- "$KYTKIN" settlement report --http "127.0.0.1:$HTTP" \
  --date "$live_date" --format json
contains out "\"business_date\":\"$live_date\"" report-http-date
contains out "\"net_minor\":930" report-http-json-net
expect 2 report-http-bad-date -- "$KYTKIN" settlement report --http "127.0.0.1:$HTTP" --date 2026-02-30
expect 2 cutover-http-bad-date -- "$KYTKIN" settlement cutover --http "127.0.0.1:$HTTP" --to-date 2026-02-30
# A batch without a T row over --grpc: settled, and every item in the report like the local path
# (it had no report lines before the server answered a stream without totals).
authorize b3 4.00
cat >"$TMP/live2.csv" <<CSV
H,LIVE-2,100001,TERM0001,KYTKINMERCH0001,EUR
I,1,capture,4.00,$RRN_b3,$CODE_b3,,000001
I,2,capture,1.00,999999999,,,000002
I,3,capture,1.50,,,5555555555554444,000003
CSV
expect 1 settle-grpc-no-trailer -- "$KYTKIN" settle "$TMP/live2.csv" --grpc "127.0.0.1:$GRPC" \
  --report "$TMP/report8.csv"
contains out "batch LIVE-2 .*business date [0-9-]*): no T row, not reconciled" grpc-no-trailer
cp "$TMP/report8.csv" "$TMP/report"
contains report "LIVE-2,1,capture,4.00,captured,00,none,false,[1-9][0-9]*,,[0-9]" grpc-no-trailer-1
contains report "LIVE-2,2,capture,1.00,rejected,25,unknown_original,false,0,,[0-9]" grpc-no-trailer-2
contains report "LIVE-2,3,capture,1.50,force_posted,00,force_posted,false,[1-9][0-9]*,555555\*\*\*\*\*\*4444," grpc-no-trailer-3
[ "$(grep -c '^LIVE-2,' "$TMP/report")" = 3 ] || fail "grpc-no-trailer: $(cat "$TMP/report")"
# The batch stays open: the same file with its T row reconciles it, the items as duplicates.
cat "$TMP/live2.csv" >"$TMP/live3.csv"
echo "T,2,5.50,0,0.00,0,0.00" >>"$TMP/live3.csv"
expect 0 settle-grpc-trailer-later -- "$KYTKIN" settle "$TMP/live3.csv" --grpc "127.0.0.1:$GRPC" \
  --report "$TMP/report9.csv"
contains out "batch LIVE-2 .*: 00 in balance, state balanced" grpc-trailer-later
cp "$TMP/report9.csv" "$TMP/report"
contains report "LIVE-2,1,capture,4.00,captured,00,none,true," grpc-trailer-later-dup
# The cut-over over HTTP: the balanced batches are paid out now, once.
expect 0 cutover-http -- "$KYTKIN" settlement cutover --http "127.0.0.1:$HTTP"
contains out '"batch_id":"LIVE-1".*"state":"settled"' cutover-http-live1
contains out '"batch_id":"LIVE-2".*"state":"settled"' cutover-http-live2
expect 0 cutover-http-again -- "$KYTKIN" settlement cutover --http "127.0.0.1:$HTTP"
contains out "0 batch(es) paid out: .*nothing to cut over" cutover-http-nothing
kill "$SERVER"
wait "$SERVER" 2>/dev/null
SERVER=""
expect 1 settle-grpc-down -- "$KYTKIN" settle "$TMP/live.csv" --grpc "127.0.0.1:$GRPC" \
  --report "$TMP/report7.csv"
expect 1 report-http-down -- "$KYTKIN" settlement report --http "127.0.0.1:$HTTP"
verify after-live

# --- bad rows name their line; bad usage ---------------------------------------------------
cat >"$TMP/bad.csv" <<'CSV'
I,1,capture,1.00,1,,,
H,B2,100001,TERM0001,KYTKINMERCH0001,EUR
I,1,sale,1.00,1,,,
I,2,capture,abc,1,,,
I,3,capture,1.00,,,,
I,4,capture,1.00,1,,
X,what
H,B3,100001,TERM0001,UNKNOWNSHOP,EUR
CSV
expect 1 settle-bad-rows -- "$KYTKIN" settle "$TMP/bad.csv" --data-dir "$D" \
  --config "$TMP/kytkin.toml" --report "$TMP/report4.csv"
contains err "bad.csv:1: I row outside a batch" bad-line-1
contains err "bad.csv:3: type: 'sale'" bad-line-3
contains err "bad.csv:4: amount: 'abc'" bad-line-4
contains err "bad.csv:5: auth_rrn or pan" bad-line-5
contains err "bad.csv:6: I row has 7 fields" bad-line-6
contains err "bad.csv:7: record type 'X'" bad-line-7
contains err "bad.csv:8: H row before the T row of batch B2" bad-line-8
contains err "bad.csv:8: merchant_id: UNKNOWNSHOP has no payout account" bad-line-8b
contains out "batch B2 .*no T row, not reconciled" no-trailer
expect 2 settle-usage -- "$KYTKIN" settle
expect 1 settle-missing-file -- "$KYTKIN" settle "$TMP/nope.csv" --data-dir "$D"
expect 2 report-bad-date -- "$KYTKIN" settlement report --date 2026-13-01 --data-dir "$D"
contains err "date must be YYYY-MM-DD" report-bad-date-msg
verify at-end

if [ "$failures" -gt 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "cli_settle_test: all checks passed"
