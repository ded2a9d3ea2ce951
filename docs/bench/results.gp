# written by scripts/bench.sh: gnuplot results.gp
set terminal pngcairo size 1200,600 noenhanced font ",10"
set output 'docs/bench/results.png'
set title "vhostd-bench: median ops/s (bars: min..max over 3 rounds)"
set style data histograms
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set logscale y
set ylabel "ops/s (log)"
set yrange [1000:*]
set xtics rotate by -30
set key outside bottom center horizontal
set grid ytics
plot 'docs/bench/results.dat' using 2:3:4:xtic(1) title "vhostd", \
     '' using 5:6:7 title "qemu-storage-daemon", \
     '' using 8:9:10 title "baseline (getrandom / io_uring / unix stream)"
