//! include/ferrokafka.h is what cbindgen generates from this crate; regenerate with
//! `FERROKAFKA_BLESS=1 cargo test -p ferrokafka-c --test header`.

#[test]
fn checked_in_header_matches_the_code() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("header generates")
        .write(&mut generated);
    let path = format!("{dir}/include/ferrokafka.h");
    if std::env::var_os("FERROKAFKA_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write header");
    }
    let current = std::fs::read(&path).unwrap_or_default();
    assert!(
        current == generated,
        "include/ferrokafka.h differs from the code: regenerate it with FERROKAFKA_BLESS=1 cargo test -p ferrokafka-c --test header"
    );
}
