#!/usr/bin/env bash
# Install Debian packages, waiting for another package manager run instead of failing at once.
# dpkg's frontend lock is waited for by apt itself (DPkg::Lock::Timeout); `apt-get update`
# takes the lists lock, which older apt does not wait for, so it is retried here.
# Usage: scripts/apt_install.sh PACKAGE [PACKAGE ...]
set -euo pipefail
WAIT_S=${EARLYRISK_APT_WAIT_S:-600}
APT=(apt-get -o DPkg::Lock::Timeout="$WAIT_S")
deadline=$((SECONDS + WAIT_S))
until "${APT[@]}" update -qq; do
	if ((SECONDS >= deadline)); then
		echo "apt-get update still failing after ${WAIT_S}s (another install holding the lock?)" >&2
		exit 1
	fi
	echo "apt-get update failed (lock held by another install?); retrying in 10 s" >&2
	sleep 10
done
DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq "$@"
