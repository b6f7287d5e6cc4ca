# The main job's run in one PNG (bench/demo.sh): hits per service by popularity rank against
# Zipf(alpha), the latency CDF, and the daemon over time (VMs resident and swapped, CPU).
# gnuplot -e "hits='hits.txt'; cdf='cdf.txt'; samples='samples.txt'; out='demo.png';
#             alpha=1.0; n=1000; ttl='...'" demo.gp
if (!exists("ttl")) ttl = ''
set terminal pngcairo size 1500,480 font ",10" noenhanced
set output out
set multiplot layout 1,3 title "denali demo: ".ttl

# 1. hits by rank, and what Zipf(alpha) expects of the same total
stats hits using 3 nooutput
total = STATS_sum
norm = sum [k=1:n] k**(-alpha)
set title "requests per service by popularity rank"
set xlabel "rank"
set ylabel "requests"
set logscale xy
set xrange [1:n]
set grid
set key top right
plot hits using 1:($3 > 0 ? $3 : 1/0) with points pt 7 ps 0.4 title "measured", \
     [1:n] total * x**(-alpha) / norm with lines lw 2 title sprintf("Zipf(%.2f)", alpha)

# 2. latency CDF
unset logscale
set autoscale x
set title "latency CDF (from the intended send time)"
set xlabel "latency (ms)"
set ylabel "fraction at or below"
set logscale x
set yrange [0:1]
set key bottom right
plot cdf using 1:2 with steps lw 2 title "requests"

# 3. the daemon over time
unset logscale
set autoscale x
set yrange [0:*]
set title "the daemon during the run"
set xlabel "time (s)"
set ylabel "VMs"
set y2label "denalid CPU (cores)"
set y2tics
set y2range [0:*]
set key top left
old = -1; oldt = 0
cores(t, c) = (dc = (old < 0 ? 0 : (c - old) / (t - oldt)), old = c, oldt = t, dc)
plot samples using 1:3 with lines lw 2 title "resident", \
     samples using 1:4 with lines lw 2 title "swapped", \
     samples using 1:(cores($1, $2)) axes x1y2 with lines lw 1 dt 2 title "CPU"
unset multiplot
