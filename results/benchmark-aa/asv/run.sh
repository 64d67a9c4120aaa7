set -e
. /tmp/bench/v/bin/activate
cd /tmp/bench/p
asv machine --yes
export MTLPERF_BENCH_DEVICE=cpu MTLPERF_BENCH_METHODS="constant;lbtw;slaw;gradnorm;pcgrad" MTLPERF_BENCH_TASKS=32,128
A=8a87de1; B=$(git rev-parse --short HEAD)
date
asv run --set-commit-hash $(git rev-parse $A) --bench bench_step
date
asv run --set-commit-hash $(git rev-parse $B) --bench bench_step
date
asv compare $A $B > /tmp/bench/asv_compare.txt
asv compare --only-changed $A $B > /tmp/bench/asv_compare_changed.txt || true
date
