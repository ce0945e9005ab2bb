//! Builds the kernel programs (swit-ebpf) for bpfel with nightly and
//! `-Z build-std=core`, and leaves the object in OUT_DIR for `include_bytes!`.
//!
//! `AYA_BUILD_SKIP=1` skips that build (no nightly or bpf-linker needed) and
//! leaves an empty object: the library and its unit tests build, and `run`
//! says the binary carries no kernel programs.
use std::{env, fs, path::PathBuf};

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let skip = env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    if skip {
        println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
        fs::write(out.join("swit"), b"")?;
        return Ok(());
    }
    let meta = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let root = meta.parent().expect("workspace root").join("swit-ebpf");
    let root = root.to_str().expect("utf-8 path");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "swit-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}
