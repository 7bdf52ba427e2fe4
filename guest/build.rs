// The linker that ships with rustc adds its own WASI 0.2.6 adapter by default, which raises
// every WASI import to 0.2.6. Without it, the component imports exactly the WASI 0.2.4 that
// `wit/deps` holds, and runs on every host that provides 0.2.4 or newer.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("wasi") {
        println!("cargo:rustc-link-arg-cdylib=--wasi-adapter=none");
    }
}
