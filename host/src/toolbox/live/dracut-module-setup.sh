#!/bin/bash
# Written by builder: KIWI's hybridpersistent for dracut's dmsquash-live.
check() {
    return 255
}
depends() {
    echo dmsquash-live
}
installkernel() {
    instmods @FS@
}
install() {
    inst_multiple blkid parted udevadm mkfs.@FS@ head grep cut tail mount umount sleep mkdir cat sync
    inst_script /usr/lib/builder/live-cow /sbin/builder-live-cow
    # shellcheck disable=SC2154 # set by dracut
    inst_script "$moddir/builder-live-cow-dracut.sh" /sbin/builder-live-cow-dracut
    inst_hook pre-udev 26 "$moddir/builder-live-cow-genrules.sh"
    dracut_need_initqueue
}
