//! Compiles the C programs in tests/c against the static library and runs them: the C API
//! tested from C. (bindings-c/test.sh runs the same programs under valgrind.)

use std::path::PathBuf;
use std::process::Command;

fn target_dir() -> PathBuf {
    // tests run from target/<profile>/deps/<test>
    let exe = std::env::current_exe().expect("test path");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>")
        .to_owned()
}

fn build(name: &str) -> PathBuf {
    let dir = env!("CARGO_MANIFEST_DIR");
    // Tests link the rlib only: build the static library they are about (quick when current).
    let built = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "ferrokafka-c"])
        .current_dir(dir)
        .status()
        .expect("cargo");
    assert!(built.success(), "building libferrokafka_c.a");
    let lib = target_dir().join("libferrokafka_c.a");
    assert!(lib.exists(), "{} exists", lib.display());
    let out = tempfile::Builder::new()
        .prefix(name)
        .tempdir()
        .expect("tmp")
        .keep()
        .join(name);
    let status = Command::new("cc")
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-g",
            "-I",
            &format!("{dir}/include"),
        ])
        .arg(format!("{dir}/tests/c/{name}.c"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&out)
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success(), "compiling {name}.c");
    out
}

#[test]
fn c_client_program_passes() {
    let exe = build("test_client");
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(&exe).arg(data.path()).output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all C API checks passed"), "{stdout}");
}
