//! Writing executables that a test then runs, without the "Text file busy" race (I/O).
//!
//! `execve` fails with ETXTBSY while any process holds the file open for writing. A file written
//! by this (multi-threaded) test process can be: another test thread forks between our `open`
//! and `close`, and its child keeps a copy of the write descriptor until it execs. So the bytes
//! of an executable are never written here: they are staged in a file that is never run, and a
//! separate process (`install`, whose descriptors no thread of ours can inherit) writes the
//! executable itself. Shared by `tests/` (through `common`) and `scanner/tests/` (by path).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Copies `src` to `dest` (replacing it) as an executable (0755), written by `install`.
pub fn copy_executable(src: &Path, dest: &Path) {
    let st = Command::new("install")
        .arg("-m")
        .arg("0755")
        .arg("-T")
        .arg(src)
        .arg(dest)
        .status()
        .expect("run install");
    assert!(
        st.success(),
        "install {} {}: {st}",
        src.display(),
        dest.display()
    );
}

/// Writes `contents` to `dest` (replacing it) as an executable (0755), race-free as above.
pub fn write_executable(dest: &Path, contents: &[u8]) {
    let mut staged = dest.as_os_str().to_owned();
    staged.push(format!(".staged-{}", std::process::id()));
    let staged = std::path::PathBuf::from(staged);
    std::fs::write(&staged, contents).unwrap_or_else(|e| panic!("write {}: {e}", staged.display()));
    copy_executable(&staged, dest);
    let _ = std::fs::remove_file(&staged);
}
