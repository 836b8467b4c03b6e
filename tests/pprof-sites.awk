# SPDX-License-Identifier: MIT
# pprof-sites.awk -- reads `protoc --decode=perftools.profiles.Profile`
# output of an rgn profile and prints one line per sample:
#   SITE<TAB>LABEL<TAB>REGION<TAB>RESOURCES<TAB>BYTES
# with the string labels resolved through the string table (tests/).
function unquote(s) { sub(/^[^"]*"/, "", s); sub(/"[^"]*$/, "", s); return s }
/^sample \{/ { n++; depth = 1; nv = 0; inlabel = 0; next }
depth && /^  label \{/ { inlabel = 1; key = ""; str = ""; next }
depth && inlabel && /^    key:/ { key = $2; next }
depth && inlabel && /^    str:/ { str = $2; next }
depth && inlabel && /^  \}/ { lab[n, key] = str; keys[key] = 1; inlabel = 0; next }
depth && /^  value:/ { val[n, nv++] = $2; next }
depth && /^\}/ { depth = 0; next }
/^string_table:/ { strs[ns++] = unquote($0); next }
END {
    for (k in keys) name[strs[k]] = k
    for (i = 1; i <= n; i++) {
        site = (i SUBSEP name["site"]) in lab ? strs[lab[i, name["site"]]] : ""
        label = (i SUBSEP name["label"]) in lab ? strs[lab[i, name["label"]]] : ""
        region = (i SUBSEP name["region"]) in lab ? strs[lab[i, name["region"]]] : ""
        printf "%s\t%s\t%s\t%d\t%d\n", site, label, region, val[i, 0], val[i, 1]
    }
}
