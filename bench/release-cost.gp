# SPDX-License-Identifier: MIT
# release-cost.gp -- release cost against the number of live resources.
# Input: bench/release-cost.dat from `make bench-plot` (columns: live
# resources, then ns per register+release of the OLDEST resource for each
# implementation, "-" where one was not built).
set terminal pngcairo size 800,520 font ",11"
set output outfile
set title "Releasing the oldest of N live resources (register+release pair)"
set xlabel "live resources (N)"
set ylabel "ns per pair (log)"
set logscale xy
set format x "10^{%L}"
set grid
set key top left
set datafile missing "-"
plot for [c=2:6] infile using 1:c with linespoints lw 2 pt 7 title columnheader(c)
