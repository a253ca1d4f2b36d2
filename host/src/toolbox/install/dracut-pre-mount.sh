#!/bin/sh
# Written by builder: when the command line asks (builder.install=VOLUME_ID),
# builder-install writes the disk image from the installation medium onto
# a disk and reboots. Sourced by dracut: it returns, never exits.
type getarg > /dev/null 2>&1 || . /lib/dracut-lib.sh
builder_install_volid=$(getarg builder.install=)
if [ -n "$builder_install_volid" ]; then
    if ! /sbin/builder-install "$builder_install_volid"; then
        # As KIWI's installer does: the reason stays on the screen for a
        # while, then the machine reboots; with rd.debug, a shell instead.
        getargbool 0 rd.debug && die "builder-install: the installation did not finish (see above)"
        echo "builder-install: rebooting in 30 seconds" > /dev/console
        sleep 30
        reboot -f
    fi
fi
