#!/bin/sh
# Written by builder: KIWI's `installiso`. The initrd of an installation
# ISO runs this instead of mounting a root:
#
#   builder-install VOLUME_ID
#
# It mounts the installation medium (the filesystem labelled VOLUME_ID),
# reads builder-install.conf there, picks the disk to install onto (the
# only one; with several, the one typed on a console, or unattended the
# first matching `target`), asks before destroying its data (unless
# unattended), writes the compressed disk image onto it, reads it back
# and checks its SHA-256 (unless `verify=false`), then reboots or powers
# off. Every message and question goes to each of the kernel's consoles
# (a serial console and the screen alike); the first answer typed on any
# of them counts. On failure it says why and exits 1.
#
# builder-install.conf holds `key=value` lines, never run as shell:
#   image=FILE       the disk image on the medium, FILE.zst or FILE.xz
#   size=BYTES       its size, uncompressed
#   sha256=HEX       its digest, uncompressed
#   verify=true      read the written disk back and check it
#   unattended=false install without asking
#   target=ERE       unattended, with several disks: the one to take
#   filter=ERE       disks never offered (their /dev or by-id paths)
#   after=reboot     or poweroff

volid=$1
run=/run/builder-install
medium=$run/medium

# The initrd's own copies of the tools, where a busybox applet of the same
# name would answer otherwise.
tool() {
    if [ -x "/usr/lib/builder/bin/$1" ]; then
        echo "/usr/lib/builder/bin/$1"
    else
        echo "$1"
    fi
}

consoles=$(cat /sys/class/tty/console/active 2> /dev/null)
[ -n "$consoles" ] || consoles=console

say() {
    for c in $consoles; do
        echo "builder-install: $*" > "/dev/$c" 2> /dev/null
    done
}

fail() {
    say "error: $*"
    exit 1
}

# ask QUESTION: the first line typed on any console.
ask() {
    rm -f "$run/answer" "$run"/answer.*
    pids=""
    for c in $consoles; do
        printf 'builder-install: %s ' "$1" > "/dev/$c" 2> /dev/null || continue
        (IFS= read -r line < "/dev/$c" && echo "$line" > "$run/answer.$c" &&
            mv "$run/answer.$c" "$run/answer") &
        pids="$pids $!"
    done
    while [ ! -e "$run/answer" ]; do
        sleep 1
    done
    # shellcheck disable=SC2086 # one PID a word
    kill $pids 2> /dev/null
    cat "$run/answer"
}

mkdir -p "$medium"
say "looking for the installation medium $volid"
# Every block device is probed: a CD drive is not in /proc/partitions,
# where blkid would look for the label.
labelled() {
    for b in /sys/class/block/*; do
        b=/dev/${b##*/}
        [ -b "$b" ] || continue
        if [ "$("$(tool blkid)" -p -o value -s LABEL "$b" 2> /dev/null)" = "$volid" ]; then
            echo "$b"
            return 0
        fi
    done
    return 1
}
device=""
i=0
while [ "$i" -lt 60 ]; do
    udevadm settle 2> /dev/null
    device=$(labelled) && break
    sleep 1
    i=$((i + 1))
done
[ -n "$device" ] || fail "no filesystem labelled $volid appeared"
mount -r -t iso9660 "$device" "$medium" 2> /dev/null || mount -r "$device" "$medium" ||
    fail "could not mount $device"

image="" size="" sha256="" verify=true unattended=false target="" filter="" after=reboot
[ -r "$medium/builder-install.conf" ] || fail "$device has no builder-install.conf"
while IFS='=' read -r key value; do
    case "$key" in
        image) image=$value ;;
        size) size=$value ;;
        sha256) sha256=$value ;;
        verify) verify=$value ;;
        unattended) unattended=$value ;;
        target) target=$value ;;
        filter) filter=$value ;;
        after) after=$value ;;
    esac
done < "$medium/builder-install.conf"
case "$image" in
    */* | "") fail "builder-install.conf names no image" ;;
    *.zst) decompress="$(tool zstd) -dc" ;;
    *.xz) decompress="$(tool xz) -dc" ;;
    *) fail "$image is neither .zst nor .xz" ;;
esac
[ -r "$medium/$image" ] || fail "$image is not on $device"

# The disk the medium is on (a partition's disk, or the device itself).
name=${device##*/}
medium_disk=$name
for d in /sys/block/*; do
    [ -e "$d/$name/partition" ] && medium_disk=${d##*/}
done

# The disks to install onto.
matches() { # DEVICE ERE: whether the device's path or a by-id link matches
    echo "/dev/$1" | grep -Eq -e "$2" && return 0
    for link in /dev/disk/by-id/*; do
        [ "$(readlink -f "$link")" = "/dev/$1" ] && echo "$link" | grep -Eq -e "$2" && return 0
    done
    return 1
}
candidates=""
for d in /sys/block/*; do
    disk=${d##*/}
    case "$disk" in
        loop* | sr* | fd* | zram* | dm-* | md* | nbd*) continue ;;
    esac
    [ "$disk" = "$medium_disk" ] && continue
    [ "$(cat "$d/size")" -gt 0 ] 2> /dev/null || continue
    [ "$(cat "$d/ro" 2> /dev/null)" = 1 ] && continue
    if [ -n "$filter" ] && matches "$disk" "$filter"; then
        say "/dev/$disk filtered out by $filter"
        continue
    fi
    candidates="$candidates $disk"
done
# shellcheck disable=SC2086 # one disk a word
set -- $candidates
[ $# -gt 0 ] || fail "no disk to install onto"
gib() { # DISK: its size in GiB, one decimal
    sectors=$(cat "/sys/block/$1/size")
    echo "$((sectors / 2097152)).$((sectors % 2097152 * 10 / 2097152))"
}
if [ $# -eq 1 ]; then
    disk=$1
elif [ "$unattended" = true ]; then
    disk=$1
    if [ -n "$target" ]; then
        disk=""
        for d in "$@"; do
            if [ -z "$disk" ] && matches "$d" "$target"; then
                disk=$d
            fi
        done
        [ -n "$disk" ] || fail "no disk matches $target"
    fi
else
    n=0
    for d in "$@"; do
        n=$((n + 1))
        say "$n) /dev/$d, $(gib "$d") GiB"
    done
    disk=""
    while [ -z "$disk" ]; do
        answer=$(ask "install onto which disk? [1-$#]")
        case "$answer" in
            *[!0-9]* | "") ;;
            *)
                n=0
                for d in "$@"; do
                    n=$((n + 1))
                    [ "$n" = "$answer" ] && disk=$d
                done
                ;;
        esac
    done
fi
have=$(($(cat "/sys/block/$disk/size") * 512))
[ "$have" -ge "$size" ] || fail "/dev/$disk holds $have bytes, the image needs $size"
if [ "$unattended" != true ]; then
    answer=$(ask "destroying ALL data on /dev/$disk ($(gib "$disk") GiB), continue? [y/N]")
    case "$answer" in
        y | Y | yes | YES | Yes) ;;
        *)
            say "installation cancelled"
            exit 1
            ;;
    esac
fi

say "writing $image onto /dev/$disk"
rm -f "$run/failed"
# shellcheck disable=SC2086 # the tool and its option
{ $decompress "$medium/$image" || touch "$run/failed"; } |
    "$(tool dd)" of="/dev/$disk" bs=1M conv=fsync 2> "$run/dd.log" ||
    fail "writing /dev/$disk: $(cat "$run/dd.log")"
[ -e "$run/failed" ] && fail "$image could not be decompressed"
if [ "$verify" = true ]; then
    say "reading /dev/$disk back"
    written=$("$(tool head)" -c "$size" "/dev/$disk" | "$(tool sha256sum)")
    [ "${written%% *}" = "$sha256" ] || fail "/dev/$disk does not hold the image (SHA-256 ${written%% *})"
fi
sync
umount "$medium" 2> /dev/null
if [ "$after" = poweroff ]; then
    say "installed onto /dev/$disk; powering off (remove the installation medium)"
    poweroff -f 2> /dev/null || echo o > /proc/sysrq-trigger
else
    say "installed onto /dev/$disk; rebooting"
    reboot -f 2> /dev/null || echo b > /proc/sysrq-trigger
fi
sleep 30
exit 0
