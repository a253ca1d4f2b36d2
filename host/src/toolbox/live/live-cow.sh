#!/bin/sh
# Written by builder: KIWI's `hybridpersistent` for a live ISO. The live
# system's initrd runs this before it mounts the root:
#
#   builder-live-cow LABEL FILESYSTEM LAYOUT
#
# When the live medium (the filesystem labelled LABEL) is a partition of a
# writable disk, as when the ISO was written onto a USB stick, the root's
# changes are kept in a partition of that disk labelled `cow`. The first boot makes it in
# the free space after the image (at least 64 MiB, else nothing is made),
# with a FILESYSTEM (ext4, xfs or btrfs); LAYOUT is what the live system
# reads there: `live-boot` (persistence.conf) or `dmsquash` (LiveOS/overlay
# and LiveOS/ovlwork). Exits 0 when the `cow` partition is ready, 1 when the
# changes stay in memory (a CD, a read-only or full disk).

label=$1
fs=$2
layout=$3

# The initrd's own copies of the tools, where a busybox applet of the same
# name would answer otherwise (busybox's mke2fs makes ext2 alone).
tool() {
    if [ -x "/usr/lib/builder/bin/$1" ]; then
        echo "/usr/lib/builder/bin/$1"
    else
        echo "$1"
    fi
}
blkid=$(tool blkid)
parted=$(tool parted)
mkfs=$(tool "mkfs.$fs")

say() {
    echo "builder-live-cow: $*" > /dev/kmsg 2> /dev/null || echo "builder-live-cow: $*" >&2
}

case "$fs" in
    ext4) mkfs_options="-F -q" ;;
    xfs | btrfs) mkfs_options="-f -q" ;;
    *)
        say "unknown filesystem '$fs'"
        exit 1
        ;;
esac

partitions() {
    for p in /sys/block/"$1"/*/partition; do
        [ -e "$p" ] || continue
        p=${p%/partition}
        echo "${p##*/}"
    done
}

# The disk the medium is a partition of (a CD has no partitions: it is
# not waited for long).
disk=""
i=0
while [ "$i" -lt 30 ]; do
    devices=$("$blkid" -c /dev/null -o device -t LABEL="$label" 2> /dev/null)
    for device in $devices; do
        name=${device##*/}
        [ -e "/sys/class/block/$name/partition" ] || continue
        for d in /sys/block/*; do
            [ -e "$d/$name/partition" ] && disk=${d##*/}
        done
    done
    [ -n "$disk" ] && break
    [ -n "$devices" ] && [ "$i" -ge 3 ] && break
    sleep 1
    i=$((i + 1))
done
if [ -z "$disk" ]; then
    say "the live medium is not on a partitioned disk: changes stay in memory"
    exit 1
fi
if [ "$(cat "/sys/block/$disk/ro")" != "0" ]; then
    say "/dev/$disk is read-only: changes stay in memory"
    exit 1
fi
# The `cow` partition of that disk alone, never another disk's.
cow=""
for p in $(partitions "$disk"); do
    [ "$("$blkid" -c /dev/null -o value -s LABEL "/dev/$p" 2> /dev/null)" = cow ] && cow=/dev/$p
done
if [ -z "$cow" ]; then
    # The free space after the last partition, in 512-byte sectors.
    free=$("$parted" -s -m "/dev/$disk" unit s print free 2> /dev/null | tail -n 1)
    case "$free" in
        *:free\;) ;;
        *)
            say "no free space after the image on /dev/$disk: changes stay in memory"
            exit 1
            ;;
    esac
    start=$(echo "$free" | cut -d: -f2)
    end=$(echo "$free" | cut -d: -f3)
    start=${start%s}
    end=${end%s}
    # Aligned to 1 MiB, as partitioning tools align.
    start=$(((start + 2047) / 2048 * 2048))
    if [ $((end - start)) -lt $((64 * 2048)) ]; then
        say "less than 64 MiB free after the image on /dev/$disk: changes stay in memory"
        exit 1
    fi
    before=$(partitions "$disk")
    say "making the write partition on /dev/$disk from sector $start"
    if ! out=$("$parted" -s "/dev/$disk" mkpart primary "${start}s" "${end}s" 2>&1); then
        say "parted could not add a partition to /dev/$disk ($out): changes stay in memory"
        exit 1
    fi
    new=""
    i=0
    while [ -z "$new" ] && [ "$i" -lt 10 ]; do
        udevadm settle 2> /dev/null || sleep 1
        for p in $(partitions "$disk"); do
            echo "$before" | grep -qx "$p" || new=$p
        done
        [ -n "$new" ] && [ -b "/dev/$new" ] || { new=""; sleep 1; }
        i=$((i + 1))
    done
    if [ -z "$new" ]; then
        say "the new partition of /dev/$disk did not appear: changes stay in memory"
        exit 1
    fi
    # shellcheck disable=SC2086
    if ! out=$("$mkfs" $mkfs_options -L cow "/dev/$new" 2>&1); then
        say "mkfs.$fs failed on /dev/$new ($out): changes stay in memory"
        exit 1
    fi
    cow=/dev/$new
fi

mnt=/run/builder-live-cow
mkdir -p "$mnt"
if ! mount -t "$fs" "$cow" "$mnt"; then
    say "could not mount $cow: changes stay in memory"
    exit 1
fi
case "$layout" in
    live-boot) [ -e "$mnt/persistence.conf" ] || echo "/ union" > "$mnt/persistence.conf" ;;
    dmsquash) mkdir -p "$mnt/LiveOS/overlay" "$mnt/LiveOS/ovlwork" ;;
esac
sync
umount "$mnt"
say "changes are kept on $cow"
exit 0
