//! A `wasi:http` component that misbehaves on request, so the host's isolation tests can show
//! that a trap, a loop or a runaway allocation costs one request and nothing else. Built by
//! `make test` (`make build-test-components`); it is not part of the product.
//!
//! - `/trap`: panics (a wasm trap);
//! - `/loop`: spins forever;
//! - `/alloc`: allocates until the instance's memory cap stops it;
//! - `/sleep`: waits a minute in the host (a blocking WASI poll), where no epoch deadline fires;
//! - `/echo`: reads the whole body and answers with its length;
//! - anything else: 200 `ok`.

#[cfg(target_arch = "wasm32")]
mod component {
    use std::io::{Read as _, Write as _};
    use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

    wasip2::http::proxy::export!(Faulty);

    struct Faulty;

    impl wasip2::exports::http::incoming_handler::Guest for Faulty {
        fn handle(request: IncomingRequest, out: ResponseOutparam) {
            let text = match request.path_with_query().as_deref().unwrap_or("/") {
                "/trap" => panic!("fault component: trap"),
                "/loop" => {
                    let mut n: u64 = 0;
                    loop {
                        n = std::hint::black_box(n.wrapping_add(1));
                    }
                }
                "/alloc" => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1u8; 1 << 20]);
                        std::hint::black_box(&hoard);
                    }
                }
                "/sleep" => {
                    wasip2::clocks::monotonic_clock::subscribe_duration(60_000_000_000).block();
                    "slept".to_string()
                }
                "/echo" => {
                    let body = request.consume().expect("a body");
                    let mut bytes = Vec::new();
                    let _ = body.stream().expect("a stream").read_to_end(&mut bytes);
                    format!("{}", bytes.len())
                }
                _ => "ok".to_string(),
            };
            let resp = OutgoingResponse::new(Fields::new());
            let body = resp.body().expect("a body");
            ResponseOutparam::set(out, Ok(resp));
            let mut stream = body.write().expect("a stream");
            let _ = stream.write_all(text.as_bytes());
            let _ = stream.flush();
            drop(stream);
            let _ = OutgoingBody::finish(body, None);
        }
    }
}
