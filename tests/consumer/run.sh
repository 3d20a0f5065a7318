#!/usr/bin/env bash
# run.sh [PREFIX] — builds tests/consumer against an installed attograd twice,
# through its CMake package (find_package) and through pkg-config, and runs
# both programs. PREFIX is where `cmake --install` put it; without one (an
# installed .deb) the system's default paths are searched.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${1:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== find_package(attograd 0.2)"
cmake -S "$here" -B "$work/cmake" ${prefix:+-DCMAKE_PREFIX_PATH="$prefix"} >/dev/null
cmake --build "$work/cmake" >/dev/null
LD_LIBRARY_PATH="${prefix:+$prefix/lib}" "$work/cmake/consumer"

echo "== pkg-config attograd_app"
export PKG_CONFIG_PATH="${prefix:+$prefix/lib/pkgconfig}"
flags="$(pkg-config --cflags --libs attograd_app)"
echo "pkg-config --cflags --libs attograd_app: $flags"
# shellcheck disable=SC2086
cc -std=c11 -o "$work/consumer_pc" "$here/consumer.c" $flags
LD_LIBRARY_PATH="${prefix:+$prefix/lib}" "$work/consumer_pc"
# the program runs from the shared libraries of the prefix
LD_LIBRARY_PATH="${prefix:+$prefix/lib}" ldd "$work/consumer_pc" | grep -E 'libattograd(_app)?\.so' | sed 's/ (0x.*//'
