//! Ansible for the tests and the collection: ansible-core from PyPI in a virtualenv
//! (`target/venv`; Debian 12's Python 3.11 takes ansible-core 2.19, the newest for it), and
//! `cargo xtask collection`: the `fleetrestart.fleet` collection (collection/ plus the static
//! scanners as its binary modules) built by `ansible-galaxy` into a tarball.

use crate::{apt_install, root, run};
use std::path::PathBuf;
use std::process::Command;

/// The virtualenv with ansible-core (made once; `pip install` reaches PyPI).
pub fn venv() -> PathBuf {
    let venv = root().join("target/venv");
    if !venv.join("bin/ansible-playbook").exists() {
        apt_install(&["python3-venv"]);
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
        run(Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "ansible-core",
        ]));
    }
    venv
}

/// Builds the collection tarball from collection/ and the scanners in `scanners`; its path.
pub fn collection(scanners: &std::path::Path) -> PathBuf {
    let venv = venv();
    let out = root().join("target/collection");
    let src = out.join("src");
    let _ = std::fs::remove_dir_all(&out);
    copy_tree(&root().join("collection"), &src);
    for arch in ["x86_64", "aarch64"] {
        let to = src.join(format!("plugins/modules/fleetrestart_{arch}"));
        std::fs::copy(scanners.join(format!("fleetrestart-scan-{arch}")), &to)
            .unwrap_or_else(|e| panic!("copy the {arch} scanner: {e}"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    run(Command::new(venv.join("bin/ansible-galaxy"))
        .args(["collection", "build", "--force", "--output-path"])
        .arg(&out)
        .arg(&src));
    let tarball = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .expect("ansible-galaxy wrote a tarball");
    eprintln!("xtask: collection {}", tarball.display());
    tarball
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            copy_tree(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}
