//! The store probe: a test component that calls the `asm:auth` store imports its host plugs in,
//! one HTTP request per call, so the conformance suite (`host/tests/api/conformance.rs`) can run
//! against stores that only live inside a wasm host, such as the Spin adapter under `spin up`.
//!
//! `POST …/<operation>` with the arguments as a JSON array answers `{"Ok": …}` or
//! `{"Err": …}`: the operation's `StoreResult`, serialised. The dispatch is generated from
//! `asm_contract::with_store_operations!`, so every operation is reachable. Never shipped.

#[cfg(target_arch = "wasm32")]
mod component {
    use asm_contract::*;
    use std::io::{Read as _, Write as _};
    use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

    wit_bindgen::generate!({
        path: ["../../../wit", "wit"],
        world: "asm:store-probe/probe",
        with: {
            "wasi:http/types@0.2.4": wasip2::http::types,
            "wasi:io/streams@0.2.4": wasip2::io::streams,
            "wasi:io/error@0.2.4": wasip2::io::error,
            "wasi:io/poll@0.2.4": wasip2::io::poll,
            "wasi:clocks/monotonic-clock@0.2.4": wasip2::clocks::monotonic_clock,
            "asm:auth/types@0.1.0": asm_contract::types,
            "asm:auth/user-store@0.1.0": generate,
            "asm:auth/session-store@0.1.0": generate,
            "asm:auth/mailer@0.1.0": generate,
            "asm:auth/events@0.1.0": generate,
        },
    });

    use asm::auth::{events, mailer, session_store, user_store};

    struct Probe;
    export!(Probe);

    macro_rules! dispatch {
        ($($(#[$trait_doc:meta])* $module:ident $Trait:ident $label:literal {
            $($(#[$doc:meta])* fn $op:ident($($arg:ident: $ty:ident),*) -> $ret:ty;)*
        })*) => {
            /// Calls the import named `op` with the JSON arguments; the result as JSON.
            fn call(op: &str, args: &[u8]) -> Result<Vec<u8>, String> {
                match op {
                    $($(
                        stringify!($op) => {
                            #[allow(unused_parens)]
                            let ($($arg,)*): ($(asm_contract::wit_type!($ty),)*) =
                                serde_json::from_slice(args).map_err(|e| format!("arguments of {op}: {e}"))?;
                            let result: StoreResult<$ret> = $module::$op($($arg.lend()),*);
                            serde_json::to_vec(&result).map_err(|e| e.to_string())
                        }
                    )*)*
                    other => Err(format!("no store operation {other:?}")),
                }
            }
        };
    }

    with_store_operations!(dispatch);

    impl exports::wasi::http::incoming_handler::Guest for Probe {
        fn handle(request: IncomingRequest, out: ResponseOutparam) {
            let path = request.path_with_query().unwrap_or_default();
            let op = path.rsplit('/').next().unwrap_or_default().to_string();
            let mut args = Vec::new();
            if let Ok(body) = request.consume() {
                if let Ok(mut stream) = body.stream() {
                    let _ = stream.read_to_end(&mut args);
                }
            }
            let (status, body) = match call(&op, &args) {
                Ok(json) => (200, json),
                Err(e) => (400, e.into_bytes()),
            };
            let resp = OutgoingResponse::new(Fields::new());
            let _ = resp.set_status_code(status);
            let outgoing = resp.body().expect("a body");
            ResponseOutparam::set(out, Ok(resp));
            let mut stream = outgoing.write().expect("a stream");
            let _ = stream.write_all(&body);
            let _ = stream.flush();
            drop(stream);
            let _ = OutgoingBody::finish(outgoing, None);
        }
    }
}
