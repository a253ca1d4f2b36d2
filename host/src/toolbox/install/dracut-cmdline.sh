#!/bin/sh
# Written by builder: root=builder-install is no root to mount; the
# installer runs in its place (the pre-mount hook).
# shellcheck disable=SC2034,SC2154 # read and set for dracut
if [ "$root" = builder-install ]; then
    rootok=1
fi
