#!/bin/sh
# End-to-end checks of `kytkin accounts|journal|ledger` (exit codes, line numbers of bad rows,
# masking, the card key file's mode).
# Usage: cli_storage_test.sh path/to/kytkin
set -u
KYTKIN="$1"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
D="$TMP/data"

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect() {
  code=$1 name=$2
  shift 3
  "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
  got=$?
  [ "$got" -eq "$code" ] || fail "$name: exit $got, want $code (stderr: $(cat "$TMP/err"))"
}
contains() { grep -q -- "$2" "$TMP/$1" || fail "$3: $1 lacks '$2': $(cat "$TMP/$1")"; }
lacks() { if grep -q -- "$2" "$TMP/$1"; then fail "$3: $1 contains '$2'"; fi; }

cat >"$TMP/accounts.csv" <<'CSV'
account_id,kind,currency,opening_balance,credit_limit,name,pan,expiry,card_status,single_limit,daily_limit,daily_count
1,cardholder_debit,EUR,100.00,,"Alice, A",4111111111111111,3012,active,50.00,200.00,10
2,cardholder_credit,EUR,0,500.00,Bob,5500000000000004,3012,,,,
3,merchant,EUR,,,Shop,,,,,,
2,,EUR,,,,4000000000000002,3001,lost,,,
4,prepaid,EUR,0,,Gift,4111111111111112,3012,,,,
5,cardholder_debit,XXX,0,,Bad currency,,,,,,
6,cardholder_debit,EUR,0,,Bad expiry,4012888888881881,3013,,,,
CSV

expect 1 import-with-bad-rows -- "$KYTKIN" accounts import "$TMP/accounts.csv" --data-dir "$D"
contains out "imported 4 of 7 rows, 3 failed" import-summary
contains err "accounts.csv:6: pan" import-line-6
contains err "accounts.csv:7: currency" import-line-7
contains err "accounts.csv:8: .*expiry" import-line-8
lacks err "4111111111111112" import-no-clear-pan

printf 'account_id,kind,colour\n1,merchant,red\n' >"$TMP/badheader.csv"
expect 1 import-unknown-column -- "$KYTKIN" accounts import "$TMP/badheader.csv" --data-dir "$TMP/d2"
contains err "line 1: unknown column 'colour' (known: account_id, kind" import-unknown-column-msg
# Row 8's account must not exist: its card was bad, so nothing of the row applied.
expect 1 show-missing -- "$KYTKIN" accounts show --id 6 --data-dir "$D"
contains err "no account 6" show-missing-message

mode=$(stat -c %a "$D/card.key")
[ "$mode" = "600" ] || fail "card.key mode $mode, want 600"

expect 0 show-by-id -- "$KYTKIN" accounts show --id 1 --data-dir "$D"
contains out '"balance":"100.00"' show-balance
contains out '"name":"Alice, A"' show-name
expect 0 show-by-pan -- "$KYTKIN" accounts show --pan 4000000000000002 --data-dir "$D"
contains out '"masked_pan":"400000\*\*\*\*\*\*0002"' show-masked
contains out '"status":"lost"' show-card-status
lacks out "4000000000000002" show-no-clear-pan

expect 0 block-card -- "$KYTKIN" accounts block --pan 4111111111111111 --status stolen --data-dir "$D"
contains out '"status":"stolen"' block-card-status
expect 0 block-account -- "$KYTKIN" accounts block --id 2 --data-dir "$D"
contains out '"status":"blocked"' block-account-status
expect 2 block-two-selectors -- "$KYTKIN" accounts block --id 2 --pan 4111111111111111 --data-dir "$D"
expect 1 block-unknown -- "$KYTKIN" accounts block --id 99 --data-dir "$D"

expect 0 create -- "$KYTKIN" accounts create --id 7 --balance 12.50 --pan 4242424242424242 --expiry 2912 --data-dir "$D"
contains out '"balance":"12.50"' create-balance
expect 1 create-duplicate -- "$KYTKIN" accounts create --id 7 --data-dir "$D"
contains err "exists" create-duplicate-message
expect 2 create-bad-kind -- "$KYTKIN" accounts create --id 8 --kind gold --data-dir "$D"

expect 0 ledger-verify -- "$KYTKIN" ledger verify --data-dir "$D"
contains out "ledger ok: 5 accounts, 2 transfers" ledger-ok
expect 0 journal-verify -- "$KYTKIN" journal verify --data-dir "$D"
contains out "journal ok" journal-ok
expect 0 journal-export-csv -- "$KYTKIN" journal export --format csv --data-dir "$D"
contains out "^sequence,time_unix_us," export-header
expect 2 journal-export-bad-format -- "$KYTKIN" journal export --format xml --data-dir "$D"
expect 2 journal-export-bad-range -- "$KYTKIN" journal export --from 5 --to 2 --data-dir "$D"
expect 1 ledger-verify-no-dir -- "$KYTKIN" ledger verify --data-dir "$TMP/nope"
expect 2 accounts-no-sub -- "$KYTKIN" accounts
expect 2 ledger-bad-sub -- "$KYTKIN" ledger check

# No clear PAN anywhere in the data directory.
if grep -r -q -a -e 4111111111111111 -e 5500000000000004 -e 4242424242424242 "$D"; then
  fail "a clear PAN is stored in the data dir"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures failed"
  exit 1
fi
echo "cli_storage_test: all checks passed"
