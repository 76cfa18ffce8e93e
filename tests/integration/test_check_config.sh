#!/usr/bin/env bash
# bsupd --check-config: the examples are valid; each broken drop-in is rejected on its own
# with file:line:column; usage errors exit 2.
set -euo pipefail
bsupd="${BSUP_BUILD_DIR:-build}/bsupd"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # name expected-exit command...
  local name=$1 want=$2; shift 2
  local got=0
  "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL $name: exit $got, want $want"; cat "$tmp/out" "$tmp/err"; fails=$((fails+1))
  else
    echo "ok   $name"
  fi
}
expect_err() { # name text
  if ! grep -qF -- "$2" "$tmp/err"; then
    echo "FAIL $1: stderr lacks: $2"; cat "$tmp/err"; fails=$((fails+1))
  fi
}

check examples 0 "$bsupd" --check-config --config-dir etc/bsup.d
grep -q '^api-service (10-api-service.yaml' "$tmp/out" || { echo "FAIL: api-service not printed"; fails=$((fails+1)); }
grep -q '^worker-service (20-worker-service.yaml' "$tmp/out" || { echo "FAIL: worker-service not printed"; fails=$((fails+1)); }
grep -q 'instance_type *t3.large' "$tmp/out" || { echo "FAIL: resolved values"; fails=$((fails+1)); }
# A target-group setting the drop-in does not write is not shown as if bsupd enforced it.
grep -q 'health_check.path *- (not declared: left as the target group has it)' "$tmp/out" || { echo "FAIL: undeclared health_check.path"; fails=$((fails+1)); }
grep -q 'health_check.path *\/healthz' "$tmp/out" || { echo "FAIL: declared health_check.path"; fails=$((fails+1)); }

base='service_name: NAME
environment: prod
vpc_id: vpc-0a1b2c3d
subnet_ids: [subnet-0a1b2c3d]
database_name: db
database_username: admin
database_password: ssm:/prod/db
'
mk() { # name extra-yaml: a copy of the examples plus one drop-in of our own
  local d="$tmp/$1"; mkdir -p "$d"
  cp etc/bsup.d/*.yaml "$d/"
  printf '%s%s' "${base/NAME/$1}" "$2" > "$d/50-$1.yaml"
}
run() { # name expected-message: exit 1, the message, and the good services still printed
  check "$1" 1 "$bsupd" --check-config --config-dir "$tmp/$1"
  expect_err "$1" "$2"
  grep -q '^api-service ' "$tmp/out" || { echo "FAIL $1: good services not printed"; fails=$((fails+1)); }
}
mk max-lt-min $'min_size: 3\nmax_size: 1\n'
run max-lt-min "50-max-lt-min.yaml:9:11: max_size (1) is less than min_size (3)"
mk unknown-key $'min_sise: 3\n'
run unknown-key "50-unknown-key.yaml:8:1: unknown key min_sise; did you mean min_size?"
mk plaintext ''
sed -i 's|ssm:/prod/db|Sup3rSecret!|' "$tmp/plaintext/50-plaintext.yaml"
run plaintext "50-plaintext.yaml:7:20: database_password is a plaintext password, which is refused outside environment: dev"
if grep -q 'Sup3rSecret' "$tmp/out" "$tmp/err"; then echo "FAIL: plaintext password printed"; fails=$((fails+1)); fi
mk dup-name ''
sed -i 's/service_name: dup-name/service_name: worker-service/' "$tmp/dup-name/50-dup-name.yaml"
run dup-name "50-dup-name.yaml:1:15: service_name worker-service is already declared in 20-worker-service.yaml:4:5"
# Two services, one Auto Scaling group (api-service's by its default name), other bounds: bsupd
# would change it back and forth, so the newcomer is refused; equal settings share, and a
# health-check setting only one of them writes (api-service writes none) disagrees with no one.
mk shared-bounds $'resources: {auto_scaling_group: api-service-prod}\nmin_size: 1\nmax_size: 6\n'
run shared-bounds '50-shared-bounds.yaml:1:15: service shared-bounds uses Auto Scaling group api-service-prod, as does service api-service (10-api-service.yaml:4:1), with min_size 2 there and 1 here: bsupd would change it back and forth; make them equal, or give one service its own resources.auto_scaling_group'
grep -qF "1 file rejected" "$tmp/out" || { echo "FAIL shared-bounds: not counted rejected"; fails=$((fails+1)); }
mk shared-tg $'resources: {target_group: api-service-prod}\nhealth_check: {path: /ping}\n'
check shared-tg 0 "$bsupd" --check-config --config-dir "$tmp/shared-tg"
mk shared-asg $'resources: {auto_scaling_group: api-service-prod, target_group: api-service-prod}\nmin_size: 2\nmax_size: 6\n'
check shared-asg 0 "$bsupd" --check-config --config-dir "$tmp/shared-asg"
grep -q '^shared-asg ' "$tmp/out" || { echo "FAIL shared-asg: not printed"; fails=$((fails+1)); }
mk bad-env ''
sed -i 's/environment: prod/environment: production/' "$tmp/bad-env/50-bad-env.yaml"
run bad-env '50-bad-env.yaml:2:14: environment must be dev, staging or prod (got "production")'
mk retention $'backup_retention: 40\n'
run retention "50-retention.yaml:8:19: backup_retention (40) must be between 1 and 35 days"
mk not-yaml ''
printf 'service_name: [oops\n  - {\n' > "$tmp/not-yaml/50-not-yaml.yaml"
run not-yaml "50-not-yaml.yaml:2:5: not valid YAML"
# A tag another tool would act on, or an escaped NUL, would be dropped unseen: refused at its mark.
mk tag $'max_size: !vault 5\n'
run tag "50-tag.yaml:8:11: YAML tags (!vault) are not allowed in drop-ins"
mk nul $'region: "eu-west-1\\0x"\n'
run nul "50-nul.yaml:8:9: text holds a NUL character"

check missing-dir 1 "$bsupd" --check-config --config-dir "$tmp/nope"
expect_err missing-dir "cannot open the configuration directory: No such file or directory"
check bad-flag 2 "$bsupd" --check-config --frobnicate
check bad-mode 2 "$bsupd" --check-config --config-dir etc/bsup.d --mode fix
expect_err bad-mode "mode must be observe or enforce"
check extra-arg 2 "$bsupd" --check-config stray
# A long option is named as it was written ("option -c needs a value" answered --config).
check no-value 2 "$bsupd" --check-config --config-dir
expect_err no-value "option --config-dir needs a value"
check no-value-region 2 "$bsupd" --check-config --region
expect_err no-value-region "option --region needs a value"
check flag-value 2 "$bsupd" --check-config=yes
expect_err flag-value "option --check-config takes no value"
check short-no-value 2 "$bsupd" --check-config -c
expect_err short-no-value "option -c needs a value"
check help 0 "$bsupd" --help
check version 0 "$bsupd" --version
printf 'interval: 1s\n' > "$tmp/bad-settings.yaml"
check bad-settings 1 "$bsupd" --check-config --config-dir etc/bsup.d --config "$tmp/bad-settings.yaml"
expect_err bad-settings "bad-settings.yaml:1:11: interval (1s) must be between 10s and 1d"
check missing-settings 1 "$bsupd" --check-config --config-dir etc/bsup.d --config "$tmp/none.yaml"

# An endpoint URL the AWS client would refuse on every call keeps bsupd from starting.
printf "endpoint_urls:\n  autoscaling: 'http://x:70000'\n" > "$tmp/bad-endpoint.yaml"
check bad-endpoint 1 "$bsupd" --check-config --config-dir etc/bsup.d --config "$tmp/bad-endpoint.yaml"
expect_err bad-endpoint "bad-endpoint.yaml:2:16: endpoint_urls.autoscaling has an invalid port"
printf 'log_level: notice\n' > "$tmp/plain.yaml"
for mode in check start once; do
  want=1; flag=--check-config
  [ "$mode" = start ] && flag=--dry-run
  [ "$mode" = once ] && { want=2; flag=--once; }
  check "env-endpoint-$mode" "$want" env AWS_REGION=eu-west-1 \
    AWS_ENDPOINT_URL_AUTO_SCALING='http://u@x' timeout 10 "$bsupd" $flag \
    --config-dir etc/bsup.d --config "$tmp/plain.yaml" --state-dir "$tmp/state-$mode" \
    --socket "$tmp/sock-$mode"
  expect_err "env-endpoint-$mode" 'AWS_ENDPOINT_URL_AUTO_SCALING: "http://u@x" must not contain user information'
done

# A region from the environment that is not one: cannot start (1; --once 2), the variable named.
for mode in start once; do
  want=1; flag=--dry-run
  [ "$mode" = once ] && { want=2; flag=--once; }
  check "env-region-$mode" "$want" env -u AWS_REGION AWS_DEFAULT_REGION=mars-1 timeout 10 \
    "$bsupd" $flag --config-dir etc/bsup.d --config "$tmp/plain.yaml" \
    --state-dir "$tmp/state-region-$mode" --socket "$tmp/sock-region-$mode"
  expect_err "env-region-$mode" 'AWS_DEFAULT_REGION: region must look like an AWS region'
done

# AWS_MAX_ATTEMPTS wins over max_attempts within its bounds: another value cannot start (1; --once
# 2). It used to drop the setting for the built-in 3 (empty, 0, not a number) or be taken
# whatever its size.
for v in abc 0 11; do
  check "env-attempts-$v" 1 env AWS_MAX_ATTEMPTS=$v "$bsupd" --check-config --config-dir etc/bsup.d \
    --config "$tmp/plain.yaml"
  expect_err "env-attempts-$v" 'AWS_MAX_ATTEMPTS: max_attempts'
done
check env-attempts-once 2 env AWS_REGION=eu-west-1 AWS_MAX_ATTEMPTS=11 timeout 10 "$bsupd" --once \
  --config-dir etc/bsup.d --config "$tmp/plain.yaml" --state-dir "$tmp/state-attempts" \
  --socket "$tmp/sock-attempts"
check env-attempts-ok 0 env AWS_MAX_ATTEMPTS=10 "$bsupd" --check-config --config-dir etc/bsup.d \
  --config "$tmp/plain.yaml"

# No region anywhere: valid, but each service is warned about (its cycles would all fail).
printf 'log_level: notice\n' > "$tmp/no-region.yaml"
check no-region 0 env -u AWS_REGION -u AWS_DEFAULT_REGION \
  "$bsupd" --check-config --config-dir etc/bsup.d --config "$tmp/no-region.yaml"
expect_err no-region "warning: 10-api-service.yaml:4:1: api-service has no AWS region: its cycles will fail"
grep -qF "0 errors, 2 warnings, 0 files rejected" "$tmp/out" || { echo "FAIL: no-region: 2 warnings counted"; fails=$((fails+1)); }
check region-from-env 0 env AWS_REGION=eu-west-1 \
  "$bsupd" --check-config --config-dir etc/bsup.d --config "$tmp/no-region.yaml"
if grep -q "no AWS region" "$tmp/err"; then echo "FAIL: warned despite AWS_REGION"; fails=$((fails+1)); fi
# A drop-in's region must be bsupd's (one bsupd reconciles one region): another is an error at
# the key; with bsupd's region unknown here, a warning that it must match.
mkdir -p "$tmp/region" && cp etc/bsup.d/10-api-service.yaml "$tmp/region/"
sed -i 's/^service_name: .*/&\nregion: eu-central-1/' "$tmp/region/10-api-service.yaml"
check region-other 1 env AWS_REGION=eu-west-1 \
  "$bsupd" --check-config --config-dir "$tmp/region" --config "$tmp/no-region.yaml"
expect_err region-other "region eu-central-1 is not bsupd's region (eu-west-1): one bsupd reconciles one region"
check region-same 0 env AWS_REGION=eu-central-1 \
  "$bsupd" --check-config --config-dir "$tmp/region" --config "$tmp/no-region.yaml"
check region-unknown 0 env -u AWS_REGION -u AWS_DEFAULT_REGION \
  "$bsupd" --check-config --config-dir "$tmp/region" --config "$tmp/no-region.yaml"
expect_err region-unknown "api-service's region eu-central-1 must be bsupd's, which is unset here"

# A FIFO named like a drop-in is refused at once, never read (it used to hang the loader).
mkdir -p "$tmp/fifo" && cp etc/bsup.d/*.yaml "$tmp/fifo/" && mkfifo "$tmp/fifo/90-pipe.yaml"
check fifo 1 timeout 10 "$bsupd" --check-config --config-dir "$tmp/fifo"
expect_err fifo "90-pipe.yaml: not a regular file"

echo "$fails failed"
[ "$fails" -eq 0 ]
