// As in guest/build.rs: without the linker's own WASI 0.2.6 adapter, the WASI interfaces the
// adapter imports stay at the versions its dependencies were generated for (≤ 0.2.6), all of
// which Spin 3.6 provides.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("wasi") {
        println!("cargo:rustc-link-arg-cdylib=--wasi-adapter=none");
    }
}
