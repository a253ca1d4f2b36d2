#!/bin/sh
# Written by builder: what builder's pieces of the initrd (a live system's,
# an installer's) need in it for the image's settings, below.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
need() {
    path=$(command -v "$1") || {
        echo "builder: $1 is not in the image" >&2
        exit 1
    }
    copy_exec "$path"
}
# A private copy, named as the tool, where busybox may answer to the name.
own() {
    path=$(command -v "$1") || {
        echo "builder: $1 is not in the image" >&2
        exit 1
    }
    copy_exec "$(readlink -f "$path")" "/usr/lib/builder/bin/$1"
}
@BODY@
