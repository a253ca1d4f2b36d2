#!/bin/bash
# Runs inside the image root after packages, overlay and users are in place,
# as KIWI's config.sh does: /.profile holds the kiwi_* variables and
# /.kconfig the helper functions. It sticks to what KIWI 11 offers too, so
# the same description builds with kiwi-ng.
set -euo pipefail
test -f /.kconfig && . /.kconfig
test -f /.profile && . /.profile

Echo "configuring ${kiwi_iname} ${kiwi_iversion} (type ${kiwi_type})"
baseSetRunlevel 3
# Network: systemd-networkd with DHCP on every wired interface
# (/etc/systemd/network/20-wired.network), names resolved by systemd-resolved.
baseInsertService systemd-networkd.service
baseInsertService systemd-resolved.service
# A login prompt on the serial console (clouds and qemu show only that one).
baseInsertService serial-getty@ttyS0.service
baseInsertService ssh.service
# A generic host name; clouds set the real one at boot.
echo debian > /etc/hostname
