# pairs.sh — sourced by the scripted tests: gen SEED N prints N synthetic
# text-similarity pairs (text_a<TAB>text_b<TAB>label), the same for the same seed.
# text_b is text_a with about a quarter of its words
# replaced (label 1), or such a copy of another sentence (label 0).
gen() {
    awk -v S="$1" -v N="$2" '
    function rnd(n) { seed = (seed * 1103515245 + 12345) % 2147483648; return int(seed / 65536) % n }
    function sentence(   k, n, s) { n = 6 + rnd(5); s = "w" rnd(V); for (k = 1; k < n; k++) s = s " w" rnd(V); return s }
    function para(s,   k, n, w, out) { n = split(s, w, " "); out = ""
        for (k = 1; k <= n; k++) out = out (k > 1 ? " " : "") (rnd(4) == 0 ? "w" rnd(V) : w[k]); return out }
    BEGIN { V = 60; seed = S
        for (i = 0; i < N; i++) a[i] = sentence()
        for (i = 0; i < N; i++)
            if (rnd(2)) print a[i] "\t" para(a[i]) "\t1"
            else { j = (i + 1 + rnd(N - 1)) % N; print a[i] "\t" para(a[j]) "\t0" } }'
}
