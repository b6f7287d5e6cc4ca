# Latency percentiles vs number of services, from a series TSV (denali-load --tsv --label N).
# gnuplot -e "data='series.tsv'; out='latency.png'" latency.gp
if (!exists("data")) data = 'series.tsv'
if (!exists("out")) out = 'latency.png'
set terminal pngcairo size 900,560 font ",11" noenhanced
set output out
set title "Latency (from intended send time) vs number of services"
set xlabel "services (Zipf popularity)"
set ylabel "latency (ms)"
set logscale xy
set grid
set key top left
plot data using 1:5 with linespoints lw 2 pt 7 title "p50", \
     data using 1:6 with linespoints lw 2 pt 5 title "p90", \
     data using 1:7 with linespoints lw 2 pt 9 title "p99", \
     data using 1:8 with linespoints lw 2 pt 11 title "p99.9", \
     data using 1:9 with linespoints lw 1 dt 2 pt 1 title "max"
