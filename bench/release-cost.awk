# SPDX-License-Identifier: MIT
# release-cost.awk -- turns bench/results.csv into a gnuplot table: one row
# per N of the "release oldest" cases, one column per implementation in
# `impls` ("-" where it has no figure).
BEGIN {
    nimpl = split(impls, impl, " ")
}
# The case name is quoted and holds a comma, so count fields from the end.
/^"release oldest, N=/ {
    n = $(NF - 3) + 0
    value[n, $(NF - 2)] = $(NF - 1)
    if (!(n in seen)) {
        seen[n] = 1
        ns[++count] = n
    }
}
END {
    printf "N"
    for (i = 1; i <= nimpl; i++)
        printf " %s", impl[i]
    printf "\n"
    # N ascending: the cases are listed that way, but do not rely on it.
    for (i = 1; i <= count; i++)
        for (j = i + 1; j <= count; j++)
            if (ns[j] < ns[i]) { t = ns[i]; ns[i] = ns[j]; ns[j] = t }
    for (i = 1; i <= count; i++) {
        printf "%d", ns[i]
        for (k = 1; k <= nimpl; k++)
            printf " %s", ((ns[i], impl[k]) in value) ? value[ns[i], impl[k]] : "-"
        printf "\n"
    }
}
