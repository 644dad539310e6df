//! Records the compiler's version for the report of `mpbench compare`.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "rustc (unknown version)".into(), |v| v.trim().to_string());
    println!("cargo:rustc-env=MPBENCH_RUSTC={version}");
    println!("cargo:rerun-if-changed=build.rs");
}
