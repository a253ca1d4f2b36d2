#!/bin/sh
# Written by builder: readies the `cow` partition (builder.live-cow=FS) and,
# when it is there, points dmsquash-live's persistent overlay at it.
type getarg > /dev/null 2>&1 || . /lib/dracut-lib.sh
fs=$(getarg builder.live-cow=)
[ -n "$fs" ] || exit 0
label=${1##*/}
if /sbin/builder-live-cow "$label" "$fs" dmsquash; then
    mkdir -p /etc/cmdline.d
    echo "rd.live.overlay=LABEL=cow:/LiveOS/overlay rd.live.overlay.overlayfs=1" \
        > /etc/cmdline.d/91-builder-live-cow.conf
fi
exit 0
