fn main() {
    // Installed as libferrokafka.so: let programs linked against it find it by that name.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libferrokafka.so");
    // Without this, any file of the package changing (a C test, the README) would rerun the
    // script and rebuild the library.
    println!("cargo:rerun-if-changed=build.rs");
}
