//! Builds the wasm guest crates (first-party plugins in `plugins/`, test
//! fixtures in `tests/plugins/`) into wasm32-wasip2 components with the guest
//! toolchain described in docs/plugins.md (installed by `scripts/setup`), and
//! embeds the first-party ones in the `builder` binary.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian rustc whose standard-library sources `rust-web-src` ships.
const GUEST_RUSTC: &str = "/usr/bin/rustc";
/// wasi-libc's `libc.a` for wasm32.
const WASI_LIBC: &str = "/usr/lib/wasm32-wasi";
const GUEST_TARGET: &str = "wasm32-wasip2";
const GUEST_PROFILE: &str = "guest";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    for watched in [
        "wit",
        "sdk",
        "plugins",
        "tests/plugins",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    println!("cargo:rerun-if-env-changed=BUILDER_GUEST_TARGET_DIR");

    let guest_target_dir = env::var_os("BUILDER_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cargo_target_dir(&out_dir, &workspace).join("wasm"));
    let first_party = guest_crates(&workspace.join("plugins"));
    let fixtures = guest_crates(&workspace.join("tests/plugins"));
    let tools = linker_tools();
    for (package, dir) in first_party.iter().chain(&fixtures) {
        build_guest(&workspace, &guest_target_dir, &tools, package, dir);
    }

    let artifacts = guest_target_dir.join(GUEST_TARGET).join(GUEST_PROFILE);
    let mut code = String::from("/// Plugins built into this binary: (name, component bytes).\n");
    code.push_str("pub static BUILTIN_PLUGINS: &[(&str, &[u8])] = &[\n");
    for (package, _) in &first_party {
        let file = artifacts.join(format!("{}.wasm", package.replace('-', "_")));
        let name = package.trim_start_matches("plugin-");
        writeln!(
            code,
            "    ({name:?}, include_bytes!({:?})),",
            file.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("builtin_plugins.rs"), code).unwrap();
    println!("cargo:rustc-env=BUILDER_GUEST_DIR={}", artifacts.display());
}

/// `(package name, directory)` of every crate directly below `dir`.
fn guest_crates(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut crates = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return crates;
    };
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let name = text
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("name = \"")?
                    .strip_suffix('"')
                    .map(str::to_string)
            })
            .unwrap_or_else(|| panic!("{}: no package name", manifest.display()));
        crates.push((name, entry.path()));
    }
    crates.sort();
    crates
}

/// Cargo's target directory: the ancestor of OUT_DIR holding CACHEDIR.TAG.
fn cargo_target_dir(out_dir: &Path, workspace: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace.join("target"))
}

struct LinkerTools {
    component_ld: PathBuf,
    wasm_ld: PathBuf,
}

/// `wasm-component-ld` and `wasm-ld` from the rustup toolchain building us.
fn linker_tools() -> LinkerTools {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .expect("running rustc --print sysroot");
    let sysroot = PathBuf::from(String::from_utf8(sysroot.stdout).unwrap().trim());
    let bin = sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu/bin");
    let tools = LinkerTools {
        component_ld: bin.join("wasm-component-ld"),
        wasm_ld: bin.join("gcc-ld/wasm-ld"),
    };
    for tool in [&tools.component_ld, &tools.wasm_ld] {
        if !tool.is_file() {
            panic!(
                "{} is missing: the rustup toolchain has no wasm linker",
                tool.display()
            );
        }
    }
    for needed in [GUEST_RUSTC, WASI_LIBC] {
        if !Path::new(needed).exists() {
            panic!(
                "{needed} is missing: the wasm guest toolchain is not installed. \
                 Run `scripts/setup` (it installs rustc-web, rust-web-src and wasi-libc)."
            );
        }
    }
    tools
}

/// Variables worth passing to the inner cargo; everything the outer cargo
/// set for this build script (RUSTC, CARGO_ENCODED_RUSTFLAGS, ...) is dropped.
const KEEP_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "TMPDIR",
    "TERM",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CARGO_NET_OFFLINE",
    "CARGO_HTTP_CAINFO",
];

fn build_guest(
    workspace: &Path,
    target_dir: &Path,
    tools: &LinkerTools,
    package: &str,
    dir: &Path,
) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.env_clear();
    for key in KEEP_ENV {
        if let Some(value) = env::var_os(key) {
            command.env(key, value);
        }
    }
    command
        .current_dir(workspace)
        .env("RUSTC", GUEST_RUSTC)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_WASM32_WASIP2_LINKER", &tools.component_ld)
        .env(
            "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
            format!(
                "-L {WASI_LIBC} -C link-arg=--wasm-ld-path={}",
                tools.wasm_ld.display()
            ),
        )
        .args(["build", "--quiet", "--profile", GUEST_PROFILE])
        .args(["-Zbuild-std=std,panic_abort", "--target", GUEST_TARGET])
        .args(["-p", package, "--target-dir"])
        .arg(target_dir);
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("running cargo for guest {package}: {e}"));
    if !status.success() {
        panic!("building wasm guest `{package}` ({}) failed", dir.display());
    }
}
