#!/usr/bin/env bash
# System packages the test suite drives for real: Debian's Chromium (pages, through
# Playwright) and docker-registry (a real OCI registry for sigclient's image commands).
# Installs only what is missing; needs root (or sudo) the first time.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
[ -x /usr/bin/git ] || need+=(git)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# The registry package's post-install would start a system service; tests start their own.
policy=/usr/sbin/policy-rc.d
created=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  created=1
fi
trap '[ -n "$created" ] && $sudo rm -f "$policy"' EXIT
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-liberation
