fn main() {
    // Installed as libferrokafka.so: let programs linked against it find it by that name.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libferrokafka.so");
}
