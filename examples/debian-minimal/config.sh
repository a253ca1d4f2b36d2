#!/bin/bash
# Runs inside the image root after packages, overlay and users are in place,
# as KIWI's config.sh does: /.profile holds the kiwi_* variables and
# /.kconfig the helper functions. It sticks to what KIWI 11 offers too, so
# the same description builds with kiwi-ng (see bench/kiwi).
set -euo pipefail
test -f /.kconfig && . /.kconfig
test -f /.profile && . /.profile

Echo "configuring ${kiwi_iname} ${kiwi_iversion} (type ${kiwi_type}, timezone ${kiwi_timezone})"
# Leave a trace the tests look for.
echo "${kiwi_iname}-${kiwi_iversion}" > /etc/image-release
baseSetRunlevel 3
systemctl mask systemd-timesyncd.service
