# SPDX-License-Identifier: MIT
# timeline.gp -- the stacked area chart of tools/timeline-plot.sh: one band
# per site, between the cumulative sums of the sites before it and itself.
set terminal pngcairo size 900,480 font ",10"
set output outfile
set title sprintf("Live %s by registration site, region \"%s\"", what, region)
set xlabel "seconds"
set ylabel what
set grid
set key outside bottom center horizontal noenhanced
set style fill transparent solid 0.6 noborder
name(i) = system(sprintf("sed -n %dp '%s'", i, namesfile))
plot for [i=nsites:1:-1] datafile using 1:(i > 1 ? column(i) : 0):(column(i + 1)) \
     with filledcurves title name(i)
