//! Rebuilds the SDK when the WIT contract changes: `wit_bindgen::generate!`
//! reads `../wit` at compile time, which cargo does not see on its own.

fn main() {
    println!("cargo:rerun-if-changed=../wit");
    println!("cargo:rerun-if-changed=build.rs");
}
