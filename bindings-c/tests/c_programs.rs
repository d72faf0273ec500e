//! The C API tested from C: compiles each program in tests/c (and the examples in examples/c)
//! with `-Wall -Wextra -Werror` against the static library, and runs it against the bundled
//! broker it starts through the library. bindings-c/test.sh runs the same programs under
//! valgrind.
//!
//! The static library is the one this `cargo test` built: Cargo compiles the library with all
//! its crate types (cdylib, staticlib, rlib) next to the test executables, in
//! target/<profile>/deps. Only a C compiler is needed (`cc`, or $CC); the C++ example needs
//! `c++` (or $CXX) and is skipped, saying so, without one.

use std::path::{Path, PathBuf};
use std::process::Command;

const DIR: &str = env!("CARGO_MANIFEST_DIR");

/// target/<profile>/deps, where this test and libferrokafka_c.a were built.
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    exe.parent().expect("target/<profile>/deps").to_owned()
}

fn static_lib() -> PathBuf {
    let lib = deps_dir().join("libferrokafka_c.a");
    assert!(lib.exists(), "{} was built with this test", lib.display());
    lib
}

fn compiler(var: &str, default: &str) -> String {
    std::env::var(var).ok().filter(|c| !c.is_empty()).unwrap_or_else(|| default.to_owned())
}

/// Compiles `source` into a fresh temporary directory and returns the executable.
fn compile(source: &Path, cxx: bool) -> (tempfile::TempDir, PathBuf) {
    let name = source.file_stem().unwrap().to_string_lossy().into_owned();
    let tmp = tempfile::Builder::new().prefix(&format!("fk-{name}-")).tempdir().expect("tmp");
    let exe = tmp.path().join(&name);
    let (cc, std) = if cxx { (compiler("CXX", "c++"), "-std=c++17") } else { (compiler("CC", "cc"), "-std=c11") };
    let out = Command::new(&cc)
        .args([std, "-Wall", "-Wextra", "-Werror", "-g", "-I", &format!("{DIR}/include")])
        .arg(source)
        .arg(static_lib())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("running the C compiler {cc}: {e}"));
    assert!(out.status.success(), "compiling {}:\n{}", source.display(), String::from_utf8_lossy(&out.stderr));
    (tmp, exe)
}

/// Compiles and runs a program with a data directory of its own (and `args` after it); returns
/// its output.
fn run_with(source: &Path, cxx: bool, args: &[&Path]) -> String {
    let (tmp, exe) = compile(source, cxx);
    let data = tmp.path().join("data");
    let out = Command::new(&exe).arg(&data).args(args).output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{}",
        source.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn run(source: &Path, cxx: bool) -> String {
    run_with(source, cxx, &[])
}

fn test_program(name: &str) {
    let stdout = run(&Path::new(DIR).join("tests/c").join(format!("{name}.c")), false);
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[test]
fn every_c_test_program_is_run() {
    // A new tests/c/*.c needs a #[test] below.
    let mut found: Vec<String> = std::fs::read_dir(Path::new(DIR).join("tests/c"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".c").map(str::to_owned))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "test_client",
            "test_delivery_order",
            "test_eos",
            "test_errors",
            "test_fencing",
            "test_group",
            "test_oauthbearer",
            "test_serde",
            "test_transactions"
        ]
    );
}

#[test]
fn produce_consume_commit_seek_admin() {
    test_program("test_client");
}

#[test]
fn delivery_reports_come_in_offset_order_per_partition() {
    let stdout = run(&Path::new(DIR).join("tests/c/test_delivery_order.c"), false);
    assert!(stdout.contains("all checks passed"), "{stdout}");
    // The produce rate, for the record (cargo test --nocapture shows it).
    println!("{}", stdout.lines().find(|l| l.starts_with("produced")).unwrap_or_default());
}

#[test]
fn errors_null_handles_and_fork() {
    test_program("test_errors");
}

#[test]
fn consumer_group_rebalances_across_threads() {
    test_program("test_group");
}

#[test]
fn oauthbearer_token_callback_and_a_broker_with_settings() {
    test_program("test_oauthbearer");
}

#[test]
fn schema_registry_and_serializers() {
    test_program("test_serde");
}

#[test]
fn transactions_commit_abort_and_read_committed() {
    test_program("test_transactions");
}

#[test]
fn a_newer_producer_with_the_same_transactional_id_fences_the_older() {
    test_program("test_fencing");
}

/// examples/c/eos_copy.c, SIGKILLed in the middle by the driver and restarted: every input
/// exactly once in the read_committed output.
#[test]
fn exactly_once_copy_survives_sigkill_and_restart() {
    let (_tmp, copier) = compile(&Path::new(DIR).join("../examples/c/eos_copy.c"), false);
    let stdout = run_with(&Path::new(DIR).join("tests/c/test_eos.c"), false, &[&copier]);
    assert!(stdout.contains("all checks passed"), "{stdout}");
    println!("{stdout}");
}

#[test]
fn c_example_runs() {
    let stdout = run(&Path::new(DIR).join("../examples/c/produce_consume.c"), false);
    assert!(stdout.contains("consumed  1000 records"), "{stdout}");
}

#[test]
fn c_avro_serde_example_runs() {
    let stdout = run(&Path::new(DIR).join("../examples/c/avro_serde.c"), false);
    assert!(stdout.contains("done      3 payments read back"), "{stdout}");
    assert!(stdout.contains("refused   Local: Value serialization error (-161)"), "{stdout}");
}

#[test]
fn cpp_example_compiles_against_the_header_unchanged_and_runs() {
    let cxx = compiler("CXX", "c++");
    if Command::new(&cxx).arg("--version").output().is_err() {
        eprintln!("skipped: no C++ compiler ({cxx})");
        return;
    }
    let stdout = run(&Path::new(DIR).join("../examples/c/example.cpp"), true);
    assert!(stdout.contains("C++ read back: hello from C++"), "{stdout}");
}
