#!/bin/sh
# Written by builder: KIWI's hybridpersistent for live-boot. Before
# live-boot looks for its medium, builder-live-cow readies the `cow`
# partition that live-boot's `persistence persistence-label=cow` keeps the
# root's changes in, when the command line asks (builder.live-cow=FS,LABEL).
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
value=""
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        builder.live-cow=*) value=${arg#*=} ;;
    esac
done
[ -n "$value" ] || exit 0
/sbin/builder-live-cow "${value#*,}" "${value%%,*}" live-boot || true
