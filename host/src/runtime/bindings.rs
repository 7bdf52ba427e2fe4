//! Host-side bindings of `wit/asm.wit`. Its records are `asm_contract`'s own types, so the
//! stores receive and return exactly what the component sends and gets.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "asm:auth/auth",
    imports: {
        "asm:auth/geo": trappable,
        "asm:auth/keyring": trappable,
        default: async | trappable,
    },
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "asm:auth/types": crate::runtime::bindings::types,
    },
});

/// The WIT `types` interface: the contract's records, and the (empty) host side of an
/// interface that has no functions, in the shape bindgen expects of a mapped interface.
pub mod types {
    pub use asm_contract::types::*;

    pub trait Host {}
    impl<T: Host + ?Sized> Host for &mut T {}

    pub trait HostWithStore<T>: wasmtime::component::HasData {}
    impl<H: ?Sized, T> HostWithStore<T> for H where H: wasmtime::component::HasData {}

    pub fn add_to_linker<T, D>(
        linker: &mut wasmtime::component::Linker<T>,
        _host_getter: fn(&mut T) -> D::Data<'_>,
    ) -> wasmtime::Result<()>
    where
        D: HostWithStore<T>,
        for<'a> D::Data<'a>: Host,
        T: 'static,
    {
        linker.instance("asm:auth/types@0.1.0").map(drop)
    }
}
