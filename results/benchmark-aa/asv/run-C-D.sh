set -e
. /tmp/bench/v/bin/activate
cd /tmp/bench/p
export MTLPERF_BENCH_DEVICE=cpu MTLPERF_BENCH_METHODS="constant;lbtw;slaw;gradnorm;pcgrad" MTLPERF_BENCH_TASKS=32,128
asv run --set-commit-hash 8956ed883ceae342ec53b45375332cefd0bb008c --bench bench_step
asv run --set-commit-hash f6cce2ba66c9b664d88e7353411b9f86094c363c --bench bench_step
date
