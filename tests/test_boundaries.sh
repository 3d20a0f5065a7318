#!/usr/bin/env bash
# test_boundaries.sh — the layering the build relies on (README, Layout):
#   - only framework/ includes framework/engine.h (the engine's structs);
#   - tools/, tools/lib/, examples/ and dist/ use no internal header;
#   - the core (framework/, ops/, layers/, optim/) includes neither stb nor
#     attograd_app.h;
#   - tests declare no internal function by hand (they include internal.h).
set -u
src="${AG_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$src" || exit 2
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
c_files() { find "$@" \( -name '*.c' -o -name '*.h' -o -name '*.inc' \) 2>/dev/null; }

hits=$(c_files ops layers optim tools examples dist tests | xargs grep -ln '#include.*engine\.h')
[ -z "$hits" ] || fail "engine.h included outside framework/: $hits"
hits=$(c_files tools examples dist | xargs grep -ln '#include.*\(internal\|engine\)\.h')
[ -z "$hits" ] || fail "internal headers used by application code: $hits"
hits=$(c_files framework ops layers optim | xargs grep -ln '#include.*\(stb_\|attograd_app\.h\)')
[ -z "$hits" ] || fail "the core includes stb or attograd_app.h: $hits"
hits=$(c_files tests | xargs grep -nE '^(extern |const |static )*[A-Za-z_][A-Za-z0-9_]*[ *]+ag__[A-Za-z0-9_]+(\(.*\)|\[\]);')
[ -z "$hits" ] || fail "tests declare internals by hand (include framework/internal.h): $hits"

[ "$fails" = 0 ] && echo "boundaries hold"
exit $((fails > 0))
