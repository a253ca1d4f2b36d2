#!/bin/bash
# Research prototype for issue #6 (oem disk + live iso), NOT product code.
# Builds a Debian bookworm root, turns it into a GPT disk (BIOS + EFI GRUB) without
# loop devices or mounts, converts it to qcow2, builds a live ISO, and boots every
# artefact under qemu TCG with SeaBIOS and OVMF until the guest prints the marker.
#
# usage: prototype.sh [STAGE...]   stages: root disk iso boot   (default: all four)
#   WORK=/var/tmp/boot-spike/work  RUNS=3  BOOT_TIMEOUT=300  MARKER=BUILDER-BOOT-OK
# Host packages: mmdebstrap qemu-utils qemu-system-x86 ovmf grub-common grub-pc-bin
#   grub-efi-amd64-bin mtools dosfstools xorriso squashfs-tools fdisk e2fsprogs bc
set -euo pipefail

WORK=${WORK:-/var/tmp/boot-spike/work}
RUNS=${RUNS:-3}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
MARKER=${MARKER:-BUILDER-BOOT-OK}
SUITE=bookworm
mkdir -p "$WORK"
cd "$WORK"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
# timed NAME CMD...: runs CMD, appends "NAME seconds" to timings.txt
timed() {
  local name=$1; shift
  local t0 t1; t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  printf '%s %.1f\n' "$name" "$(echo "$t1 - $t0" | bc)" | tee -a timings.txt >&2
}

# The mirror comes from the host's apt configuration, never from this file.
mirror() {
  apt-get indextargets --format '$(REPO_URI) $(CODENAME)' 'Created-By: Packages' \
    | awk -v s="$SUITE" '$2==s {print $1; exit}'
}

# Stable identifiers chosen up front so fstab/grub.cfg can be written before mkfs.
ids() {
  if [ ! -f ids.env ]; then
    {
      echo "ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)"
      # FAT volume id (32 bit, shown as XXXX-XXXX)
      echo "ESP_ID=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ' | tr a-f A-F)"
      echo "DISK_GUID=$(cat /proc/sys/kernel/random/uuid)"
    } > ids.env
  fi
  . ./ids.env
  ESP_UUID="${ESP_ID:0:4}-${ESP_ID:4:4}"
}

# ---------------------------------------------------------------- stage: root
# mmdebstrap with update-initramfs diverted to a no-op while packages are installed
# (otherwise the initrd is built twice: kernel postinst hook + initramfs-tools trigger),
# then generated exactly once in the customize hook.
DIVERT_HOOK='chroot "$1" dpkg-divert --quiet --local --rename --divert /usr/sbin/update-initramfs.builder --add /usr/sbin/update-initramfs && printf "#!/bin/sh\necho \"update-initramfs: deferred by builder (\$*)\" >&2\n" > "$1/usr/sbin/update-initramfs" && chmod 755 "$1/usr/sbin/update-initramfs"'
UNDIVERT_HOOK='rm -f "$1/usr/sbin/update-initramfs" && chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs && t0=$(date +%s) && chroot "$1" update-initramfs -c -k all && echo "initrd-generation $(( $(date +%s) - t0 ))s" >&2'

# Files laid into the root before the initrd is generated (the initramfs fsck hook
# reads /etc/fstab: written afterwards, the initrd has no fsck for the root).
mkoverlay() { # DIR KIND(disk|live)
  local o=$1
  rm -rf "$o"; mkdir -p "$o/etc/systemd/system/multi-user.target.wants"
  # marker unit: prints the marker on the first serial port once multi-user is reached
  cat > "$o/etc/systemd/system/builder-boot-marker.service" <<EOF
[Unit]
Description=Print the builder boot marker on ttyS0
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo $MARKER > /dev/ttyS0'

[Install]
WantedBy=multi-user.target
EOF
  ln -s ../builder-boot-marker.service "$o/etc/systemd/system/multi-user.target.wants/"
  echo builder > "$o/etc/hostname"
  if [ "$2" = disk ]; then
    # the fsck hook ignores fstab's type for / and probes the (absent) device instead
    mkdir -p "$o/boot/efi" "$o/etc/initramfs-tools/conf.d"
    echo FSTYPE=ext4 > "$o/etc/initramfs-tools/conf.d/builder-fstype"
    cat > "$o/etc/fstab" <<EOF
UUID=$ROOT_UUID / ext4 errors=remount-ro 0 1
UUID=$ESP_UUID /boot/efi vfat umask=0077,nofail 0 0
EOF
  fi
}

mkroot() { # DIR EXTRA_PACKAGES OVERLAY_DIR
  local dir=$1 extra=$2 overlay=$3 m
  m=$(mirror); [ -n "$m" ] || { echo "no $SUITE mirror in apt config" >&2; exit 1; }
  rm -rf "$dir"
  mmdebstrap --verbose --variant=apt \
    --include=linux-image-amd64,systemd-sysv,initramfs-tools,zstd,e2fsprogs${extra:+,$extra} \
    --essential-hook="$DIVERT_HOOK" \
    --customize-hook="sync-in $overlay /" \
    --customize-hook="$UNDIVERT_HOOK" \
    "$SUITE" "$dir" "deb $m $SUITE main" "deb $m $SUITE-updates main" > "$dir.mmdebstrap.log" 2>&1 \
    || { tail -30 "$dir.mmdebstrap.log" >&2; return 1; }
  grep -E 'update-initramfs|initrd-generation|^I: success' "$dir.mmdebstrap.log" >&2
}

stage_root() {
  ids
  # disk root: GRUB modules of the image itself (grub-pc-bin, grub-efi-amd64-bin)
  mkoverlay overlay-disk disk
  timed mmdebstrap-disk-root mkroot root grub-pc-bin,grub-efi-amd64-bin overlay-disk
  # live root: live-boot makes initramfs-tools able to boot boot=live
  mkoverlay overlay-live live
  timed mmdebstrap-live-root mkroot liveroot live-boot overlay-live
  du -sh root liveroot >&2
}

# ---------------------------------------------------------------- stage: disk
MiB=$((1024 * 1024))
stage_disk() {
  ids
  local kver; kver=$(basename "$(ls root/boot/vmlinuz-* | sort -V | tail -1)"); kver=${kver#vmlinuz-}
  # GRUB config on the root filesystem, shared by BIOS and EFI
  mkdir -p root/boot/grub
  cat > root/boot/grub/grub.cfg <<EOF
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
set default=0
search --no-floppy --fs-uuid --set=root $ROOT_UUID
menuentry 'Debian GNU/Linux ($kver)' {
  linux /boot/vmlinuz-$kver root=UUID=$ROOT_UUID ro console=tty0 console=ttyS0,115200
  initrd /boot/initrd.img-$kver
}
EOF
  # modules for later insmod, as grub-install would lay them out
  rm -rf root/boot/grub/i386-pc root/boot/grub/x86_64-efi
  cp -r root/usr/lib/grub/i386-pc root/usr/lib/grub/x86_64-efi root/boot/grub/

  # early config embedded in core.img / BOOTX64.EFI: find the root fs by UUID
  cat > early.cfg <<EOF
search --no-floppy --fs-uuid --set=root $ROOT_UUID
set prefix=(\$root)/boot/grub
EOF
  local mods="part_gpt ext2 search search_fs_uuid normal configfile linux echo test serial terminal gzio"
  # grub-mkimage of the host packs the image's own modules (-d ROOT/usr/lib/grub/...)
  timed grub-mkimage-bios grub-mkimage -O i386-pc -d root/usr/lib/grub/i386-pc -o core.img \
     -c early.cfg -p /boot/grub biosdisk $mods
  timed grub-mkimage-efi grub-mkimage -O x86_64-efi -d root/usr/lib/grub/x86_64-efi -o BOOTX64.EFI \
     -c early.cfg -p /boot/grub $mods
  ls -l core.img BOOTX64.EFI >&2

  # layout (sectors of 512 B): 1 MiB gap | 1 MiB BIOS boot | 64 MiB ESP | root | 1 MiB for backup GPT
  local root_bytes root_mib
  root_bytes=$(du -sb root | cut -f1)
  root_mib=$(( (root_bytes * 13 / 10) / MiB + 256 ))   # 30 % + 256 MiB headroom
  local bios_start=2048 bios_size=2048 esp_start=4096 esp_size=$((64 * 2048))
  local root_start=$((esp_start + esp_size)) root_size=$((root_mib * 2048))
  local total=$(( (root_start + root_size) * 512 + MiB ))
  rm -f disk.raw; truncate -s "$total" disk.raw
  timed sfdisk sfdisk --quiet --no-reread --no-tell-kernel disk.raw <<EOF
label: gpt
label-id: $DISK_GUID
unit: sectors
first-lba: 2048
start=$bios_start, size=$bios_size, type=21686148-6449-6E6F-744E-656564454649, name="bios-boot"
start=$esp_start, size=$esp_size, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="esp"
start=$root_start, size=$root_size, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name="root"
EOF

  # root ext4 written straight into the partition (offset), populated from the directory
  timed mkfs-ext4 mkfs.ext4 -q -F -L root -U "$ROOT_UUID" -E offset=$((root_start * 512)),nodiscard \
     -d root disk.raw "${root_mib}M"

  # ESP: FAT32 image file, filled with mtools, copied into place
  rm -f esp.img
  timed esp mkfs.vfat -F 32 -n ESP -i "$ESP_ID" -C esp.img $((esp_size / 2)) >/dev/null
  mmd -i esp.img ::/EFI ::/EFI/BOOT
  mcopy -i esp.img BOOTX64.EFI ::/EFI/BOOT/BOOTX64.EFI
  dd if=esp.img of=disk.raw bs=1M seek=$((esp_start / 2048)) conv=notrunc,sparse status=none

  # BIOS: core.img into the BIOS boot partition, boot.img into the MBR, by hand
  # (what grub-bios-setup does for a GPT disk with a BIOS boot partition)
  local core_sectors=$(( ($(stat -c %s core.img) + 511) / 512 ))
  [ "$core_sectors" -le "$bios_size" ] || { echo "core.img too big" >&2; exit 1; }
  # diskboot.img (first sector of core.img) ends with a blocklist {u64 start, u16 len, u16 seg}
  # at offset 500; grub-mkimage filled len; start must point at core's second sector.
  le64() { local v=$1 i; for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(( (v >> (8*i)) & 255 )))"; done; }
  le64 $((bios_start + 1)) | dd of=core.img bs=1 seek=500 conv=notrunc status=none
  dd if=core.img of=disk.raw bs=512 seek=$bios_start conv=notrunc status=none
  cp root/usr/lib/grub/i386-pc/boot.img mbr.img
  le64 $bios_start | dd of=mbr.img bs=1 seek=$((0x5c)) conv=notrunc status=none   # kernel_sector
  printf '\x90\x90' | dd of=mbr.img bs=1 seek=$((0x66)) conv=notrunc status=none  # hard-disk drive-check nops
  # only the 440 code bytes: keep disk signature + protective MBR partition table
  dd if=mbr.img of=disk.raw bs=440 count=1 conv=notrunc status=none

  sfdisk --verify disk.raw >&2
  timed qcow2 qemu-img convert -O qcow2 disk.raw disk.qcow2
  ls -ls disk.raw disk.qcow2 >&2
}

# ---------------------------------------------------------------- stage: iso
stage_iso() {
  local kver; kver=$(basename "$(ls liveroot/boot/vmlinuz-* | sort -V | tail -1)"); kver=${kver#vmlinuz-}
  rm -rf iso live.iso; mkdir -p iso/live iso/boot/grub
  cp "liveroot/boot/vmlinuz-$kver" iso/live/vmlinuz
  cp "liveroot/boot/initrd.img-$kver" iso/live/initrd.img
  timed mksquashfs mksquashfs liveroot iso/live/filesystem.squashfs -noappend -comp zstd -e boot -quiet -no-progress
  cat > iso/boot/grub/grub.cfg <<EOF
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
set default=0
menuentry 'Debian live' {
  linux /live/vmlinuz boot=live components console=tty0 console=ttyS0,115200
  initrd /live/initrd.img
}
EOF
  # grub-mkrescue: El Torito BIOS (i386-pc eltorito.img) + EFI (efi.img with BOOTX64.EFI), hybrid MBR/GPT
  timed grub-mkrescue grub-mkrescue -o live.iso iso -- -volid BUILDER_LIVE
  ls -l iso/live live.iso >&2
}

# ---------------------------------------------------------------- stage: boot
# boot_once NAME FIRMWARE(bios|efi) MEDIA-ARGS...: prints seconds to marker, or fails
boot_once() {
  local name=$1 fw=$2; shift 2
  local fwargs=()
  if [ "$fw" = efi ]; then
    cp /usr/share/OVMF/OVMF_VARS_4M.fd "vars-$name.fd"
    fwargs=(-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
            -drive "if=pflash,format=raw,unit=1,file=vars-$name.fd")
  fi
  local serial="serial-$name.log"; : > "$serial"
  local t0; t0=$(date +%s.%N)
  qemu-system-x86_64 -machine q35 -accel tcg -m 1024 -nographic -no-reboot \
    -serial "file:$serial" -monitor none -display none "${fwargs[@]}" "$@" &
  local pid=$! elapsed=
  while kill -0 "$pid" 2>/dev/null; do
    if grep -q "$MARKER" "$serial"; then
      elapsed=$(echo "$(date +%s.%N) - $t0" | bc); break
    fi
    if [ "$(echo "$(date +%s.%N) - $t0 > $BOOT_TIMEOUT" | bc)" = 1 ]; then break; fi
    sleep 0.5
  done
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  if [ -z "$elapsed" ]; then echo "boot $name: no marker (see $WORK/$serial)" >&2; return 1; fi
  printf 'boot %s %.1f\n' "$name" "$elapsed" | tee -a timings.txt >&2
}

stage_boot() {
  local i
  for i in $(seq "$RUNS"); do
    boot_once raw-bios bios -snapshot -drive file=disk.raw,format=raw,if=virtio
    boot_once raw-efi efi -snapshot -drive file=disk.raw,format=raw,if=virtio
    boot_once qcow2-bios bios -snapshot -drive file=disk.qcow2,format=qcow2,if=virtio
    boot_once qcow2-efi efi -snapshot -drive file=disk.qcow2,format=qcow2,if=virtio
    boot_once iso-bios bios -cdrom live.iso
    boot_once iso-efi efi -cdrom live.iso
  done
}

stages=("$@"); [ ${#stages[@]} -gt 0 ] || stages=(root disk iso boot)
for s in "${stages[@]}"; do log "stage $s"; "stage_$s"; done
log "done; timings in $WORK/timings.txt"
