//! Host-side bindings of `wit/asm.wit`: the traits the stores implement for the component.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "asm:auth/auth",
    imports: {
        "asm:auth/geo": trappable,
        default: async | trappable,
    },
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
});
