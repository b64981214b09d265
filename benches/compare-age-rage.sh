#!/usr/bin/env bash
# Encryption and decryption throughput of sealstream (the parallel pipeline,
# all cores and one worker) next to age and rage, on the same file, in one run.
# Page cache warm; every output is a new file on the same disk as the input,
# written back before the next run.
#
#   benches/compare-age-rage.sh                 # 1 GiB, 5 repetitions, medians
#   SIZE_MIB=4096 REPS=3 benches/compare-age-rage.sh
#
# Needs: age and age-keygen (Debian: apt-get install age), rage
# (cargo install rage; set RAGE=/path/to/rage if it is not on PATH).
# Run it from the workspace root. See docs/PERFORMANCE.md.
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-1024}
REPS=${REPS:-5}
AGE=${AGE:-age}
RAGE=${RAGE:-rage}
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/sealstream-compare.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cargo build -q --release -p sealstream-benches --example seal_file
SEAL=target/release/examples/seal_file
for tool in "$AGE" age-keygen "$RAGE"; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

head -c $((SIZE_MIB << 20)) /dev/urandom >"$WORK/in"
head -c 32 /dev/urandom >"$WORK/sealstream.key"
age-keygen -o "$WORK/age.key" 2>/dev/null
RECIPIENT=$(age-keygen -y "$WORK/age.key")
cat "$WORK/in" >/dev/null

# microseconds for one run of "$@"; the previous output is removed and all
# dirty pages written back first (untimed), so no run pays for another's
# writeback. Outputs are not fsynced inside the timed part (none of the tools
# does that).
elapsed() {
    rm -f "$WORK/out"
    sync
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000))
}

declare -A SAMPLES
run() { # name, command...
    local name=$1
    shift
    SAMPLES[$name]+="$(elapsed "$@") "
}

# Sealed inputs for the decryption runs.
$SEAL seal "$WORK/sealstream.key" "$WORK/in" "$WORK/in.sls"
$AGE -r "$RECIPIENT" -o "$WORK/in.age" "$WORK/in"

for _ in $(seq "$REPS"); do # interleaved, so load changes hit every tool alike
    run seal-all $SEAL seal "$WORK/sealstream.key" "$WORK/in" "$WORK/out"
    run seal-1t $SEAL seal "$WORK/sealstream.key" "$WORK/in" "$WORK/out" --threads 1
    run seal-xchacha-all $SEAL seal "$WORK/sealstream.key" "$WORK/in" "$WORK/out" --suite xchacha
    run age-enc $AGE -r "$RECIPIENT" -o "$WORK/out" "$WORK/in"
    run rage-enc $RAGE -r "$RECIPIENT" -o "$WORK/out" "$WORK/in"
    run open-all $SEAL open "$WORK/sealstream.key" "$WORK/in.sls" "$WORK/out"
    run open-1t $SEAL open "$WORK/sealstream.key" "$WORK/in.sls" "$WORK/out" --threads 1
    run age-dec $AGE -d -i "$WORK/age.key" -o "$WORK/out" "$WORK/in.age"
    run rage-dec $RAGE -d -i "$WORK/age.key" -o "$WORK/out" "$WORK/in.age"
    # The same to /dev/null: the tools' own speed, without the cost of
    # allocating page-cache pages for a new file (the floor of every run above).
    run null-seal-all $SEAL seal "$WORK/sealstream.key" "$WORK/in" /dev/null
    run null-seal-1t $SEAL seal "$WORK/sealstream.key" "$WORK/in" /dev/null --threads 1
    run null-age-enc $AGE -r "$RECIPIENT" -o /dev/null "$WORK/in"
    run null-rage-enc $RAGE -r "$RECIPIENT" -o /dev/null "$WORK/in"
    run null-open-all $SEAL open "$WORK/sealstream.key" "$WORK/in.sls" /dev/null
    run null-open-1t $SEAL open "$WORK/sealstream.key" "$WORK/in.sls" /dev/null --threads 1
    run null-age-dec $AGE -d -i "$WORK/age.key" -o /dev/null "$WORK/in.age"
    run null-rage-dec $RAGE -d -i "$WORK/age.key" -o /dev/null "$WORK/in.age"
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A MED
echo "file: ${SIZE_MIB} MiB, ${REPS} repetitions, $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-18s %10s %9s   %s\n' tool "median s" "GiB/s" "samples (us)"
for name in seal-all seal-1t seal-xchacha-all age-enc rage-enc open-all open-1t age-dec rage-dec \
    null-seal-all null-seal-1t null-age-enc null-rage-enc \
    null-open-all null-open-1t null-age-dec null-rage-dec; do
    MED[$name]=$(echo "${SAMPLES[$name]}" | median)
    awk -v n="$name" -v us="${MED[$name]}" -v mib="$SIZE_MIB" -v s="${SAMPLES[$name]}" \
        'BEGIN { printf "%-18s %10.3f %9.2f   %s\n", n, us / 1e6, mib / 1024 / (us / 1e6), s }'
done
ratio() { awk -v a="${MED[$2]}" -v b="${MED[$1]}" -v l="$1 / $2" 'BEGIN { printf "%-28s %6.2fx\n", l, a / b }'; }
echo "throughput ratios (higher is faster for the first):"
ratio seal-all age-enc
ratio seal-all rage-enc
ratio seal-1t age-enc
ratio seal-1t rage-enc
ratio open-all age-dec
ratio open-all rage-dec
ratio open-1t age-dec
ratio open-1t rage-dec
ratio null-seal-all null-age-enc
ratio null-seal-all null-rage-enc
ratio null-seal-1t null-age-enc
ratio null-seal-1t null-rage-enc
ratio null-open-all null-age-dec
ratio null-open-all null-rage-dec
