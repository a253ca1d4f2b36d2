#!/bin/bash
# Runs inside the prepared root just before the image is created (KIWI's
# images.sh): the place for last clean-ups that only the image should get.
set -euo pipefail
test -f /.kconfig && . /.kconfig
test -f /.profile && . /.profile

baseStripDocs
echo "${kiwi_type}" > /etc/image-type
