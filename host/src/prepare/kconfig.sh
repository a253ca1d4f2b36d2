# /.kconfig: the helper functions KIWI offers image scripts (config.sh,
# images.sh), written for builder. Source it with `. /.kconfig`; it defines
# functions only. Service helpers use systemctl when the image has systemd.

Echo() {
    # Echo [-n|-e] text...: a message marked as coming from the script.
    local opt=""
    case "${1:-}" in -n|-e) opt=$1; shift ;; esac
    echo $opt "[ * ] $*"
}

Debug() {
    # Debug text...: printed when DEBUG is set.
    if [ -n "${DEBUG:-}" ]; then Echo "(debug) $*"; fi
}

Rm() {
    # Rm args...: rm with the call logged.
    Debug "rm $*"
    rm "$@"
}

baseSystemctlCall() {
    if command -v systemctl >/dev/null 2>&1; then
        systemctl "$@"
    else
        Echo "systemctl is not installed; skipped: systemctl $*"
    fi
}

baseInsertService() {
    # baseInsertService NAME: enable a service at boot.
    baseSystemctlCall enable "$1"
}

baseRemoveService() {
    # baseRemoveService NAME: disable a service.
    baseSystemctlCall disable "$1"
}

baseService() {
    # baseService NAME on|off: enable or disable a service.
    case "$2" in
        on) baseInsertService "$1" ;;
        off) baseRemoveService "$1" ;;
        *) Echo "baseService: expected on or off, got '$2'"; return 1 ;;
    esac
}

baseMaskService() {
    # baseMaskService NAME: mask a service.
    baseSystemctlCall mask "$1"
}

suseInsertService() { baseInsertService "$@"; }
suseRemoveService() { baseRemoveService "$@"; }
suseService() { baseService "$@"; }

baseSetRunlevel() {
    # baseSetRunlevel 1|2|3|4|5|TARGET: the default boot target.
    local target
    case "$1" in
        1) target=rescue.target ;;
        2|3|4) target=multi-user.target ;;
        5) target=graphical.target ;;
        *.target) target=$1 ;;
        *) Echo "baseSetRunlevel: unknown runlevel '$1'"; return 1 ;;
    esac
    baseSystemctlCall set-default "$target"
}

baseUpdateSysConfig() {
    # baseUpdateSysConfig FILE VARIABLE VALUE: set VARIABLE="VALUE" in a
    # sysconfig-style file; nothing happens if the file does not exist.
    local file=$1 var=$2 value=$3
    if [ ! -f "$file" ]; then
        Echo "baseUpdateSysConfig: $file does not exist"
        return 0
    fi
    if grep -q "^${var}=" "$file"; then
        local escaped
        escaped=$(printf '%s' "$value" | sed -e 's/[\/&|]/\\&/g')
        sed -i "s|^${var}=.*|${var}=\"${escaped}\"|" "$file"
    else
        printf '%s="%s"\n' "$var" "$value" >> "$file"
    fi
}

baseStripDocs() {
    # baseStripDocs: remove documentation (copyright files stay).
    local dir
    for dir in /usr/share/doc /usr/share/man /usr/share/info; do
        [ -d "$dir" ] || continue
        find "$dir" -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
        find "$dir" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    done
}

baseStripMans() {
    # baseStripMans: remove manual pages.
    rm -rf /usr/share/man/*
}

baseStripInfos() {
    # baseStripInfos: remove info pages.
    rm -rf /usr/share/info/*
}

baseStripLocales() {
    # baseStripLocales KEEP...: remove compiled locales and translations
    # except those whose name starts with one of KEEP (e.g. en_US C.utf8).
    local dir entry keep name found
    for dir in /usr/lib/locale /usr/share/locale; do
        [ -d "$dir" ] || continue
        for entry in "$dir"/*; do
            [ -e "$entry" ] || continue
            name=${entry##*/}
            case "$name" in locale-archive|C.*|POSIX|*.alias) continue ;; esac
            found=""
            for keep in "$@"; do
                case "$name" in "$keep"*) found=1 ;; esac
            done
            [ -n "$found" ] || rm -rf "$entry"
        done
    done
}

baseStripTranslations() {
    # baseStripTranslations PATTERN...: remove .mo files matching none of PATTERN.
    local file keep name found
    find /usr/share/locale -name '*.mo' 2>/dev/null | while read -r file; do
        name=${file##*/}
        found=""
        for keep in "$@"; do
            case "$name" in $keep) found=1 ;; esac
        done
        [ -n "$found" ] || rm -f "$file"
    done
}

baseGetProfilesUsed() {
    # baseGetProfilesUsed: the selected profiles, comma separated.
    echo "${kiwi_profiles:-}"
}

baseGetPackagesForDeletion() {
    # baseGetPackagesForDeletion: the packages of the `delete` set.
    echo "${kiwi_delete:-}"
}

baseSetupUserPermissions() {
    # baseSetupUserPermissions: every user's home belongs to the user.
    local name home uid gid
    while IFS=: read -r name _ uid gid _ home _; do
        [ "$uid" -ge 1000 ] 2>/dev/null || continue
        [ "$name" = nobody ] && continue
        [ -d "$home" ] && chown -R "$uid:$gid" "$home"
    done < /etc/passwd
}

suseConfig() {
    # suseConfig: kept for old scripts; there is nothing left for it to do.
    :
}

suseImportBuildKey() {
    # suseImportBuildKey: import the distribution's package signing keys
    # into the rpm database (RPM-based images only).
    local key
    command -v rpm >/dev/null 2>&1 || return 0
    for key in /usr/lib/rpm/gnupg/keys/*.asc /etc/pki/rpm-gpg/RPM-GPG-KEY-*; do
        [ -f "$key" ] && rpm --import "$key"
    done
    return 0
}
