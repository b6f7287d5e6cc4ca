# Latency percentiles vs number of services at the fixed offered rate (bench/zipf/series.sh),
# denali and nginx with virtual hosts; the in-core / disk-bound boundary marked.
# gnuplot -e "den='denali.tsv'; ngx='nginx.tsv'; out='latency.png'; incore=400; ttl='...'" latency.gp
if (!exists("ttl")) ttl = ''
if (!exists("incore")) incore = 0
set terminal pngcairo size 1000,600 font ",11" noenhanced
set output out
set title "Latency at the fixed offered rate vs number of services\n".ttl
set xlabel "services (Zipf popularity)"
set ylabel "latency from the intended send time (ms)"
set logscale xy
set grid
set key below horizontal maxrows 2
if (incore > 0) {
    set arrow 1 from incore, graph 0 to incore, graph 1 nohead lw 2 dt 3 lc rgb "gray40"
    set label 1 "in-core" at graph 0.02, graph 0.95 tc rgb "gray30"
    set label 2 "disk-bound" at incore * 1.05, graph 0.95 tc rgb "gray30"
}
plot den using 1:5 with linespoints lw 2 pt 7 title "denali p50", \
     den using 1:6 with linespoints lw 2 pt 5 title "denali p99", \
     den using 1:7 with linespoints lw 2 pt 9 title "denali p99.9", \
     ngx using 1:5 with linespoints lw 1 dt 2 pt 6 title "nginx p50", \
     ngx using 1:6 with linespoints lw 1 dt 2 pt 4 title "nginx p99", \
     ngx using 1:7 with linespoints lw 1 dt 2 pt 8 title "nginx p99.9"
