//! Embeds the static scanners into the controller when `FLEETRESTART_EMBED_SCANNERS` names a
//! directory holding `fleetrestart-scan-<arch>` files (`cargo xtask dist` sets it). Without it the
//! controller looks for the scanners beside itself at run time.

use std::fmt::Write;
use std::path::PathBuf;

const ARCHES: &[&str] = &["x86_64", "aarch64"];

fn main() {
    println!("cargo:rerun-if-env-changed=FLEETRESTART_EMBED_SCANNERS");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded_scanners.rs");
    let mut code = String::from("pub static EMBEDDED: &[(&str, &[u8])] = &[\n");
    if let Ok(dir) = std::env::var("FLEETRESTART_EMBED_SCANNERS") {
        let dir = PathBuf::from(dir);
        for arch in ARCHES {
            let f = dir.join(format!("fleetrestart-scan-{arch}"));
            println!("cargo:rerun-if-changed={}", f.display());
            if f.is_file() {
                let abs = f.canonicalize().unwrap();
                writeln!(
                    code,
                    "    ({arch:?}, include_bytes!({:?})),",
                    abs.display().to_string()
                )
                .unwrap();
            } else {
                panic!(
                    "FLEETRESTART_EMBED_SCANNERS: {} is missing (run `cargo xtask scanners`)",
                    f.display()
                );
            }
        }
    }
    code.push_str("];\n");
    std::fs::write(out, code).unwrap();
}
