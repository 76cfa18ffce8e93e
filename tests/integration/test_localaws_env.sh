#!/usr/bin/env bash
# localaws start/stop: SigV4 is enforced, the env file works with the real AWS
# CLI, two environments run side by side, stop (and the owner watchdog) leave
# nothing running, and misuse fails with a clear message.
set -uo pipefail
SRC=${BSUP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
LA="$SRC/scripts/localaws"
T=$(mktemp -d /tmp/bsup-localaws-env.XXXXXX)
A="$T/a" B="$T/b" C="$T/c"
fails=0
ok()   { echo "ok   $*"; }
bad()  { echo "FAIL $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
cleanup() {
  for d in "$A" "$B" "$C"; do "$LA" stop --dir "$d" >/dev/null 2>&1; done
  rm -rf "$T"
}
trap cleanup EXIT
export AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard
start_s=$SECONDS

# wait_gone PID...: true once none of the pids exists (bounded: 10 s)
wait_gone() {
  local i p alive
  for i in $(seq 200); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && return 0
    sleep 0.05
  done
  return 1
}

"$LA" start --dir "$A" --owner $$ || { bad "start A"; exit 1; }
"$LA" start --dir "$B" --faults --owner $$ || { bad "start B"; exit 1; }

# acceptance: source the env file, call the CLI
(
  . "$A/env"
  check "env sets AWS_REGION=us-east-1" test "$AWS_REGION" = us-east-1
  check "env disables the CLI pager" test -z "${AWS_PAGER-x}"
  out=$(aws autoscaling describe-auto-scaling-groups 2>&1)
  check "describe-auto-scaling-groups succeeds ($out)" grep -q '"AutoScalingGroups": \[\]' <<<"$out"
  out=$(AWS_SECRET_ACCESS_KEY=wrong aws autoscaling describe-auto-scaling-groups 2>&1)
  check "wrong secret -> SignatureDoesNotMatch" grep -q SignatureDoesNotMatch <<<"$out"
  out=$(aws rds describe-db-instances 2>&1)
  check "rds through the env's aws() shim" grep -q '"DBInstances": \[\]' <<<"$out"
  [ "$fails" -eq 0 ]
) || fails=$((fails + 1))

# side by side: a group made in A is not in B; B goes through its proxy
(
  . "$A/env"
  aws autoscaling create-launch-configuration --launch-configuration-name only-in-a \
    --image-id ami-12c6146b --instance-type t3.micro
) >/dev/null 2>&1
a=$(. "$A/env"; aws autoscaling describe-launch-configurations --query 'length(LaunchConfigurations)')
b=$(. "$B/env"; aws autoscaling describe-launch-configurations --query 'length(LaunchConfigurations)')
check "environment A has its launch configuration ($a)" test "$a" = 1
check "environment B is separate ($b)" test "$b" = 0
n=$(. "$B/env"; curl -s "$BSUP_FAULTS_URL/counts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["services"]["autoscaling"]["DescribeLaunchConfigurations"])')
check "B's proxy counted its one call ($n)" test "$n" = 1

# misuse
out=$("$LA" start --dir "$A" 2>&1); rc=$?
check "second start in a running DIR fails clearly" test $rc -ne 0 -a -n "$(grep 'already running' <<<"$out")"
port=$(python3 -c 'import json; print(json.load(open("'"$A"'/state.json"))["moto_port"])')
out=$("$LA" start --dir "$C" --port "$port" 2>&1); rc=$?
check "busy --port fails clearly ($out)" test $rc -ne 0 -a -n "$(grep 'already in use' <<<"$out")"
out=$(PATH=/usr/bin:/bin "$LA" start --dir "$C" 2>&1); rc=$?
check "missing moto_server is named ($out)" test $rc -ne 0 -a -n "$(grep 'moto_server not found' <<<"$out")"

# stop leaves nothing running
pids=$(python3 -c 'import json; s=json.load(open("'"$B"'/state.json")); print(s["moto_pid"], s["proxy_pid"], s["watchdog_pid"])')
"$LA" stop --dir "$B"
# shellcheck disable=SC2086
check "stop B ended moto, proxy and watchdog ($pids)" wait_gone $pids
check "stop removed B's env file" test ! -e "$B/env"
a=$(. "$A/env"; aws autoscaling describe-launch-configurations --query 'length(LaunchConfigurations)')
check "A still serves after B stopped ($a)" test "$a" = 1

# the watchdog ends an environment whose owner died without stopping it
sleep 300 & owner=$!
"$LA" start --dir "$C" --owner $owner >/dev/null || bad "start C"
cpid=$(python3 -c 'import json; print(json.load(open("'"$C"'/state.json"))["moto_pid"])')
kill $owner; wait $owner 2>/dev/null
check "owner gone -> watchdog stopped C's moto ($cpid)" wait_gone "$cpid"

"$LA" stop --dir "$A" >/dev/null
echo "runtime $((SECONDS - start_s))s"
[ "$fails" -eq 0 ] && echo "all checks passed" || { echo "$fails check(s) failed"; exit 1; }
