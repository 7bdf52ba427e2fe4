// As the auth component: imports no WASI newer than 0.2.4, so it runs on Spin 3.x too.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("wasi") {
        println!("cargo:rustc-link-arg-cdylib=--wasi-adapter=none");
    }
}
