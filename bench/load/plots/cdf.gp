# Latency CDFs of several runs (denali-load --cdf FILE), one curve per file.
# gnuplot -e "files='cdf-1.txt cdf-100.txt'; titles='1 100'; out='cdf.png'" cdf.gp
if (!exists("files")) files = 'cdf.txt'
if (!exists("titles")) titles = files
if (!exists("out")) out = 'cdf.png'
set terminal pngcairo size 900,560 font ",11" noenhanced
set output out
set title "Latency CDF (services per curve)"
set xlabel "latency (ms)"
set ylabel "fraction of requests at or below"
set logscale x
set grid
set key bottom right
set yrange [0:1]
plot for [i=1:words(files)] word(files, i) using 1:2 with steps lw 2 title word(titles, i)
