#!/bin/bash
# test_dataset_real.sh — `attograd dataset bible` on Debian's real SWORD
# modules, when diatheke and the modules are installed (SKIP otherwise):
# --pair kjv-web (and the default) writes the same bytes as before the
# Reina-Valera pairs existed (SHA-256 of the three files), and --pair kjv-rv
# deletes every Strong's number (no <H2416> or h2416 token left).
set -u
BIN="${1:-${AG_BIN:-build/bin}}"
AG="$BIN/attograd"
if ! command -v diatheke >/dev/null ||
    ! diatheke -b system -k modulelist 2>/dev/null | grep -q engWEB2015eb; then
    echo "SKIP: diatheke or the SWORD modules are not installed"
    exit 0
fi
T=$(mktemp -d /tmp/ag_dataset_XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Debian 12's sword-text-kjv 14.3 and sword-text-web 426.0, seed 1337
check_web() {
    (cd "$1" && sha256sum -c --quiet) <<'SUMS' || fail "$2: the KJV-WEB files changed"
3e23dce487328c52b0b9cccd106823fddfbec9f92a64fa70a318143b68a59645  train.tsv
26ddf75195360e9fac84e811d5cb72da815715fa87061a4281afe7495d74ca9b  val.tsv
bb729e3d5ed18a5f1ed1215fee39f8d98aa8d2736106e6c80be8eb1d12c98af9  test.tsv
SUMS
}
"$AG" dataset bible --pair kjv-web --out "$T/web" >/dev/null 2>&1 || fail "--pair kjv-web failed"
check_web "$T/web" "--pair kjv-web"
"$AG" dataset bible --out "$T/default" >/dev/null 2>&1 || fail "the default pair failed"
check_web "$T/default" "the default"

if diatheke -b system -k modulelist 2>/dev/null | grep -q spaRV1909eb; then
    "$AG" dataset bible --pair kjv-rv --out "$T/rv" > "$T/rv.log" 2>&1 || fail "--pair kjv-rv failed"
    grep -q "Strong's numbers" "$T/rv.log" || fail "kjv-rv: no markup count printed"
    if grep -q '<[GH][0-9]' "$T/rv"/*.tsv; then fail "kjv-rv: a Strong's number is left"; fi
    [ "$(wc -l < "$T/rv/train.tsv")" -gt 50000 ] || fail "kjv-rv: too few training pairs"
    "$AG" dataset bible --web-module spaRV1909eb --out "$T/rv2" >/dev/null 2>&1 ||
        fail "--web-module spaRV1909eb failed"
    cmp -s "$T/rv/train.tsv" "$T/rv2/train.tsv" || fail "--web-module spaRV1909eb differs from --pair kjv-rv"
else
    echo "SKIP: kjv-rv (sword-text-sparv is not installed)"
fi
"$AG" dataset bible --pair kjv-fr --out "$T/x" 2> "$T/err.txt" && fail "--pair kjv-fr accepted"
grep -q "expects kjv-web or kjv-rv, received 'kjv-fr'" "$T/err.txt" || fail "--pair error: $(cat "$T/err.txt")"

[ $fails -eq 0 ] && echo "dataset on the real modules: all checks passed"
exit $((fails > 0))
