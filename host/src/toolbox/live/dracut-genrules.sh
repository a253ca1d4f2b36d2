#!/bin/sh
# Written by builder: once the live medium is there, builder-live-cow runs
# before dmsquash-live-root (the settled initqueue runs its jobs in name
# order: builder-live-cow before dmsquash-live-root).
# shellcheck disable=SC2154 # set by dracut's cmdline hooks
case "$root" in
    live:/dev/*)
        printf 'SYMLINK=="%s", RUN+="/sbin/initqueue --settled --onetime --unique --name builder-live-cow /sbin/builder-live-cow-dracut %s"\n' \
            "${root#live:/dev/}" "${root#live:}" >> /etc/udev/rules.d/95-builder-live-cow.rules
        ;;
esac
