#!/bin/bash
# test_cli_hostile.sh — the attograd command against careless and hostile
# invocations (issue 10): numbers out of range or malformed are refused
# with the range, module names never reach a shell, special files are
# refused without blocking, the 88-byte file of duplicated __metadata__ is
# refused, texts longer than --max-length are truncated and counted, and the
# memory budget stops a huge attention call before it allocates.
set -u
BIN="${1:-${AG_BIN:-build/bin}}"
AG="$(cd "$BIN" && pwd)/attograd"
T=$(mktemp -d /tmp/ag_hostile_XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect RC MESSAGE ARGS...: exit status RC and MESSAGE (a grep -F string) on stderr
expect() {
    local rc="$1" msg="$2"
    shift 2
    local err got
    err=$(timeout 60 "$AG" "$@" 2>&1 >/dev/null)
    got=$?
    [ "$got" = "$rc" ] || fail "'$*': exit $got, expected $rc ($err)"
    printf '%s' "$err" | grep -qF -- "$msg" || fail "'$*': stderr lacks '$msg': $err"
}

mkdir -p "$T/d"
printf 'a b c\td e f\t1\nx y\tz w\t0\n' > "$T/d/train.tsv"
cp "$T/d/train.tsv" "$T/d/val.tsv"
cp "$T/d/train.tsv" "$T/d/test.tsv"

# --- numbers: strict, with the range in the message ---
expect 2 "--epochs must be an integer in [1, 100000], received '4294967296'" \
    train --data "$T/d" --epochs 4294967296
expect 2 "--epochs must be an integer in [1, 100000], received '2147483647'" \
    train --data "$T/d" --epochs 2147483647
expect 2 "--dim must be an integer in [1, 65536], received '4294967297'" \
    train --data "$T/d" --dim 4294967297
expect 2 "--batch-size must be an integer in [1, 1000000], received '9223372036854775807'" \
    train --data "$T/d" --batch-size 9223372036854775807
expect 2 "--threads must be an integer in [1, 1024], received '100000'" \
    train --data "$T/d" --threads 100000
expect 2 "--epochs must be an integer in [1, 100000], received ' 3'" train --data "$T/d" --epochs " 3"
expect 2 "--epochs must be an integer in [1, 100000], received '3x'" train --data "$T/d" --epochs 3x
expect 2 "--seed must be an integer in [0, 18446744073709551615], received '-1'" \
    train --data "$T/d" --seed -1
expect 2 "--learning-rate must be a number in (0, 1e+300], received 'inf'" \
    train --data "$T/d" --learning-rate inf
expect 2 "--max-length must be an integer in [1, 100000], received '0'" \
    train --data "$T/d" --max-length 0
expect 2 "--seed must be an integer in [0, 18446744073709551615], received '1e23'" \
    dataset bible --out "$T/x" --seed 1e23
expect 2 "--seed must be an integer in [0, 18446744073709551615], received '18446744073709551616'" \
    dataset bible --out "$T/x" --seed 18446744073709551616
expect 2 "--batch-size must be an integer in [1, 1000000], received '0'" \
    evaluate --model "$T/m" --data "$T/d/test.tsv" --batch-size 0
expect 2 "--seeds must be an integer in [1, 1000000], received '1e3'" gradcheck --seeds 1e3
AG_MEMORY_LIMIT=12q "$AG" --help >/dev/null 2>&1 && fail "AG_MEMORY_LIMIT=12q accepted"

# --- no shell: diatheke gets an argument vector, module names are checked ---
cd "$T"
expect 2 "--kjv-module must be a SWORD module name" \
    dataset bible --out "$T/x" --kjv-module "x' -k x; touch $T/PWNED; echo '"
[ -e "$T/PWNED" ] && fail "the module name ran a shell command"
expect 2 "--web-module must be a SWORD module name" dataset bible --out "$T/x" --web-module "-h"
# a stand-in diatheke that records its arguments, one per line
mkdir -p "$T/fake"
cat > "$T/fake/diatheke" <<EOF
#!/bin/sh
for a in "\$@"; do printf '%s\n' "\$a"; done >> "$T/argv.txt"
echo "Genesis 1:1: In the beginning \$3"
EOF
chmod +x "$T/fake/diatheke"
PATH="$T/fake:$PATH" "$AG" dataset bible --out "$T/x" --kjv-module 'My.Mod_1' >/dev/null 2>&1
printf -- '-b\nMy.Mod_1\n-f\nplain\n-k\nGenesis 1:1-Revelation of John 22:21\n' > "$T/want.txt"
head -6 "$T/argv.txt" | cmp -s - "$T/want.txt" || fail "diatheke's arguments: $(cat "$T/argv.txt")"
mkdir -p "$T/nobin"
err=$(PATH="$T/nobin" "$AG" dataset bible --out "$T/x" 2>&1)
[ $? = 1 ] || fail "dataset without diatheke: $err"
echo "$err" | grep -qF "cannot run diatheke: No such file or directory" ||
    fail "dataset without diatheke: $err"
cd - >/dev/null

# --- special files, hostile model files ---
mkfifo "$T/fifo"
expect 1 "is not a regular file (it is a FIFO)" predict --model "$T/fifo" "a b" "c d"
expect 1 "is not a regular file (it is a FIFO)" evaluate --model "$T/fifo" --data "$T/d/test.tsv"
expect 1 "is not a regular file (it is a directory)" predict --model /tmp "a b" "c d"
expect 1 "No such file or directory" predict --model "$T/none.safetensors" "a b" "c d"
# the 88-byte file: two __metadata__, the second smaller
h='{"__metadata__":{"a":"1","b":"2","c":"3"},"__metadata__":{"a":"1"}}'
printf "\\x$(printf %02x ${#h})\\0\\0\\0\\0\\0\\0\\0%s" "$h" > "$T/dup.safetensors"
for cmd in predict heatmap; do
    expect 1 "the key \"__metadata__\" twice" $cmd --model "$T/dup.safetensors" --out "$T/h.png" "a" "b"
done
expect 1 "the key \"__metadata__\" twice" evaluate --model "$T/dup.safetensors" --data "$T/d/test.tsv"

# --- --max-length: saved with the model, texts truncated and counted ---
long=$(for i in $(seq 1 300); do printf 'w%d ' $((i % 7)); done)
printf '%s\tw1 w2\t1\nw3 w4\tw5 w6\t0\n' "$long" > "$T/d/train.tsv"
out=$("$AG" train --data "$T/d" --epochs 1 --dim 4 --filters 4 --max-length 50 --threads 1 \
    --save "$T/m.safetensors" 2>&1) || fail "train --max-length: $out"
[ "$(echo "$out" | grep -cF "truncated 1 of the 4 texts of train.tsv to 50 tokens")" = 1 ] ||
    fail "train did not report the truncated text once: $out"
expect 0 "truncated 1 of the 4 texts of $T/d/train.tsv to 50 tokens" \
    evaluate --model "$T/m.safetensors" --data "$T/d/train.tsv"
expect 0 "truncated 1 of the 4 texts of $T/d/train.tsv to 20 tokens" \
    evaluate --model "$T/m.safetensors" --data "$T/d/train.tsv" --max-length 20
expect 0 "a text of 300 tokens truncated to 50" predict --model "$T/m.safetensors" "$long" "w1"
# a label holding an escape sequence is shown escaped
printf 'a b\tc d\t\033[2J\n' > "$T/esc.tsv"
expect 1 'label (field 3) must be 0 or 1, found "\x1b[2J"' \
    evaluate --model "$T/m.safetensors" --data "$T/esc.tsv"
expect 0 "a text of 300 tokens truncated to 50" heatmap --model "$T/m.safetensors" \
    --out "$T/h.png" "$long" "w1"

# --- the memory budget: a 30000-step attention fails before allocating ---
python3 - "$T" <<'EOF' 2>/dev/null
import struct, sys
def npy(path, shape):
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(map(str, shape))
    h += " " * (63 - (10 + len(h)) % 64) + "\n"
    n = 1
    for s in shape: n *= s
    open(path, "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + b"\0" * 4 * n)
npy(sys.argv[1] + "/q.npy", (1, 30000, 2))
EOF
if [ -e "$T/q.npy" ]; then
    err=$(AG_MEMORY_LIMIT=1024 timeout 60 "$AG" attention --query "$T/q.npy" --value "$T/q.npy" \
        --output "$T/o.npy" 2>&1)
    rc=$?
    [ "$rc" = 1 ] || fail "attention past the memory budget: exit $rc ($err)"
    echo "$err" | grep -q "exceeds the memory limit of 1073741824 bytes" ||
        fail "attention past the memory budget: $err"
fi

[ "$fails" = 0 ] && echo "all checks passed"
exit $((fails > 0))
