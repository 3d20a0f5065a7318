# attention_cli_util.sh — sourced by the `attograd attention` CLI tests: reading
# .npy files in bash, closeness checks, and one-line error checks. Expects BIN
# (the attograd binary) and TMP (a scratch directory); counts checks and fails.
fails=0
checks=0

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# The values of a little-endian float .npy file, one per line.
npy_values() {
    local hlen off descr t
    hlen=$(od -A n -t u2 -j 8 -N 2 "$1" | tr -d ' ')
    off=$((10 + hlen))
    descr=$(head -c "$off" "$1" | tr -d '\0' | grep -ao "'descr': '[^']*'" | cut -d"'" -f4)
    case $descr in
    '<f8') t=f8 ;;
    '<f4') t=f4 ;;
    *)
        echo "unsupported descr '$descr' in $1" >&2
        return 1
        ;;
    esac
    od -A n -v -t "$t" -j "$off" "$1" | tr -s ' ' '\n' | grep -v '^$'
}

npy_header() { head -c "$(($(od -A n -t u2 -j 8 -N 2 "$1" | tr -d ' ') + 10))" "$1" | tr -d '\0' | grep -ao "{.*}"; }
npy_shape() { npy_header "$1" | grep -o "'shape': ([^)]*)"; }
npy_descr() { npy_header "$1" | grep -o "'descr': '[^']*'"; }

# expect_close GOT WANT TOL: same shape, every element within TOL.
expect_close() {
    checks=$((checks + 1))
    if [ ! -f "$1" ]; then
        fail "$1 was not written"
        return
    fi
    if [ "$(npy_shape "$1")" != "$(npy_shape "$2")" ]; then
        fail "$1: $(npy_shape "$1"), expected $(npy_shape "$2")"
        return
    fi
    local worst
    worst=$(paste <(npy_values "$1") <(npy_values "$2") | awk '
        NF != 2 { print "count"; exit }
        { d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d }
        END { if (NR == 0) print "empty"; else printf "%.3g\n", m }')
    if [ "$worst" = count ] || [ "$worst" = empty ] || awk -v w="$worst" -v t="$3" 'BEGIN { exit !(w > t) }'; then
        fail "$1 vs $2: max |difference| $worst (tolerance $3)"
    fi
}

# expect_rc CODE NEEDLE ARGS...: exits with CODE, one stderr line starting
# "attograd attention: " and containing NEEDLE.
expect_rc() {
    local code=$1 needle=$2
    shift 2
    checks=$((checks + 1))
    "$BIN" attention "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    local rc=$?
    local lines
    lines=$(wc -l <"$TMP/stderr")
    if [ "$rc" -ne "$code" ]; then
        fail "exit $rc, expected $code: attention $* ($(head -c 300 "$TMP/stderr"))"
    elif [ "$lines" -ne 1 ] || ! grep -q "^attograd attention: .*$needle" "$TMP/stderr"; then
        fail "stderr for 'attention $*' should be one line with '$needle', got: $(cat "$TMP/stderr")"
    fi
}

run_ok() {
    checks=$((checks + 1))
    if ! "$BIN" attention "$@" >"$TMP/stdout" 2>"$TMP/stderr"; then
        fail "attention $*: $(cat "$TMP/stderr")"
    fi
}

[ -x "$BIN" ] || {
    echo "no attograd binary at $BIN"
    exit 1
}
