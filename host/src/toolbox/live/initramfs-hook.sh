#!/bin/sh
# Written by builder: what the live system (live-boot) needs in the initrd
# for the image's settings, below.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
need() {
    path=$(command -v "$1") || {
        echo "builder-live: $1 is not in the image" >&2
        exit 1
    }
    copy_exec "$path"
}
# A private copy, named as the tool, where busybox may answer to the name.
own() {
    path=$(command -v "$1") || {
        echo "builder-live: $1 is not in the image" >&2
        exit 1
    }
    copy_exec "$(readlink -f "$path")" "/usr/lib/builder/bin/$1"
}
@BODY@
