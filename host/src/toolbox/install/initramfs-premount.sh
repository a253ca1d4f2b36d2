#!/bin/sh
# Written by builder: KIWI's installiso for initramfs-tools. When the
# command line asks (builder.install=VOLUME_ID), builder-install writes the
# disk image from the installation medium onto a disk and reboots, before
# any root is mounted.
PREREQ="udev"
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
volid=""
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        builder.install=*) volid=${arg#*=} ;;
    esac
done
[ -n "$volid" ] || exit 0
/sbin/builder-install "$volid" && exit 0
# As KIWI's installer does: the reason stays on the screen for a while,
# then the machine reboots; with rd.debug, a shell instead.
if grep -qw rd.debug /proc/cmdline; then
    . /scripts/functions
    panic "builder-install: the installation did not finish (see above)"
fi
echo "builder-install: rebooting in 30 seconds" > /dev/console
sleep 30
reboot -f
