#!/bin/bash
# Written by builder: KIWI's installiso for dracut.
check() {
    return 255
}
depends() {
    return 0
}
installkernel() {
    instmods isofs sr_mod cdrom
}
install() {
    inst_multiple blkid udevadm head sha256sum dd grep readlink mount umount sleep cat mkdir rm mv touch sync @DECOMPRESS@
    inst_script /usr/lib/builder/install /sbin/builder-install
    # shellcheck disable=SC2154 # set by dracut
    inst_hook cmdline 91 "$moddir/builder-install-cmdline.sh"
    inst_hook pre-mount 10 "$moddir/builder-install-pre-mount.sh"
}
