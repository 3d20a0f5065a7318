#!/usr/bin/env bash
# check_symbols.sh PREFIX — the installed shared libraries export exactly the
# public API: every dynamic symbol they define is an ag_ name that an
# installed header declares with AG_API, and every AG_API declaration is
# defined by one of them. The core library needs neither stb nor the app
# library.
set -euo pipefail
prefix="${1:?usage: check_symbols.sh PREFIX}"
lib="$prefix/lib"
[ -d "$lib" ] || lib="$(dirname "$(find "$prefix" -name 'libattograd.so' | head -1)")"
inc="$prefix/include"
fails=0
# the names the installed headers declare with AG_API
# (the preprocessor drops the comments; AG_API becomes a marker to find)
declared="$(cc -E -P -DAG_API=__AG_API_MARK__ -I"$inc" "$inc/attograd_app.h" | tr '\n' ' ' |
    grep -oE '__AG_API_MARK__[^;(]*\(' | grep -oE '[A-Za-z_][A-Za-z0-9_]*[[:space:]]*\($' |
    tr -d ' (' | sort -u)"
exported=""
for so in libattograd.so libattograd_app.so; do
    names="$(nm -D --defined-only "$lib/$so" | awk '{print $3}' | sort -u)"
    echo "$so: $(echo "$names" | wc -l) exported symbols"
    bad="$(comm -23 <(echo "$names") <(echo "$declared"))"
    if [ -n "$bad" ]; then
        echo "FAIL: $so exports names no installed header declares:"
        echo "$bad" | sed 's/^/  /'
        fails=$((fails + 1))
    fi
    exported="$(printf '%s\n%s' "$exported" "$names" | sed '/^$/d' | sort -u)"
done
missing="$(comm -13 <(echo "$exported") <(echo "$declared"))"
if [ -n "$missing" ]; then
    echo "FAIL: declared AG_API but exported by neither library:"
    echo "$missing" | sed 's/^/  /'
    fails=$((fails + 1))
fi
echo "declared in attograd.h and attograd_app.h: $(echo "$declared" | wc -l)"
needed="$(readelf -d "$lib/libattograd.so" | awk '/NEEDED/ {print $5}' | tr -d '[]' | tr '\n' ' ')"
echo "libattograd.so needs: $needed"
if echo "$needed" | grep -qE 'stb|attograd_app'; then
    echo "FAIL: the core library links stb or the app library"
    fails=$((fails + 1))
fi
[ "$fails" = 0 ] && echo "symbol check passed"
exit $((fails > 0))
