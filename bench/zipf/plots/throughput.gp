# Aggregate throughput vs number of services (bench/zipf/series.sh): denali at the fixed offered
# rate and its sweep's best rate under the latency objective, nginx with virtual hosts the same;
# the in-core regime (left of the budget's limit) and the disk-bound one (right) marked.
# gnuplot -e "den='denali.tsv'; ngx='nginx.tsv'; out='throughput.png'; incore=400; ttl='...'" throughput.gp
if (!exists("ttl")) ttl = ''
if (!exists("incore")) incore = 0
if (!exists("sweep")) sweep = 1
set terminal pngcairo size 1000,600 font ",11" noenhanced
set output out
set title "Aggregate throughput vs number of services\n".ttl
set xlabel "services (Zipf popularity)"
set ylabel "requests/s"
set logscale x
set grid
set key below horizontal maxrows 2
set yrange [0:*]
if (incore > 0) {
    set arrow 1 from incore, graph 0 to incore, graph 1 nohead lw 2 dt 3 lc rgb "gray40"
    set label 1 "in-core" at graph 0.02, graph 0.95 tc rgb "gray30"
    set label 2 sprintf("disk-bound (budget holds %d VMs)", incore) at incore * 1.05, graph 0.95 tc rgb "gray30"
}
# (a series run with --no-sweep has no best rates: sweep=0 leaves their lines out)
if (sweep) {
plot den using 1:4 with linespoints lw 2 pt 7 title "denali, fixed offered rate", \
     den using 1:10 with linespoints lw 2 pt 5 title "denali, best rate under the SLO", \
     ngx using 1:4 with linespoints lw 1 dt 2 pt 6 title "nginx vhosts, fixed rate", \
     ngx using 1:10 with linespoints lw 1 dt 2 pt 4 title "nginx vhosts, best under the SLO", \
     den using 1:3 with lines lw 1 lc rgb "black" dt 4 title "offered"
} else {
plot den using 1:4 with linespoints lw 2 pt 7 title "denali, fixed offered rate", \
     ngx using 1:4 with linespoints lw 1 dt 2 pt 6 title "nginx vhosts, fixed rate", \
     den using 1:3 with lines lw 1 lc rgb "black" dt 4 title "offered"
}
