# Throughput vs number of services, from a series TSV written by denali-load --tsv --label N.
# gnuplot -e "data='series.tsv'; out='throughput.png'" throughput.gp
if (!exists("data")) data = 'series.tsv'
if (!exists("out")) out = 'throughput.png'
set terminal pngcairo size 900,560 font ",11" noenhanced
set output out
set title "Aggregate throughput vs number of services"
set xlabel "services (Zipf popularity)"
set ylabel "requests/s"
set logscale x
set grid
set key top right
set yrange [0:*]
plot data using 1:4 with linespoints lw 2 pt 7 title "achieved", \
     data using 1:3 with lines dt 2 lw 1 title "offered"
