#!/bin/bash
# Runs inside the prepared root just before the image is created (KIWI's
# images.sh): the place for last clean-ups that only the image should get.
set -euo pipefail
test -f /.kconfig && . /.kconfig
test -f /.profile && . /.profile

# Documentation, except the copyright files (plain find: KIWI 11 dropped its
# doc-stripping helper).
find /usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
echo "${kiwi_type}" > /etc/image-type
