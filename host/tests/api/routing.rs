use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let app = spawn().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["status"], "up");
    let r = app.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["data"]["user_store"], "up");
    assert_eq!(r.body["data"]["session_store"], "up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_wrong_methods_answer_in_the_envelope() {
    let app = spawn().await;
    for path in ["/", "/auth", "/auth/nope", "/auth/user/me/", "/AUTH/LOGIN"] {
        let r = app.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.body["error"].is_string());
    }
    let r = app.get("/auth/login").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = Reply::from(app.client.delete(app.url("/auth/user/me")).send().await.unwrap()).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

/// `HEAD` is answered wherever `GET` is (RFC 9110 §9.1): the same status and headers, no body.
/// Uptime monitors ask `/healthz` so, link checkers the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_is_answered_wherever_get_is() {
    let app = spawn().await;
    for (path, status, kind) in [
        ("/healthz", 200, "application/json"),
        ("/account", 200, "text/html; charset=utf-8"),
        ("/auth/user/me", 401, "application/json"),
    ] {
        let get = app.client.get(app.url(path)).send().await.unwrap();
        let head = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!((head.status().as_u16(), get.status().as_u16()), (status, status), "{path}");
        assert_eq!(head.headers().get("content-type").unwrap(), kind, "{path}");
        assert_eq!(head.headers().get("cache-control"), get.headers().get("cache-control"), "{path}");
        assert!(head.bytes().await.unwrap().is_empty(), "{path}: no body");
    }
    let r = app.client.head(app.url("/auth/login")).send().await.unwrap();
    assert_eq!(r.status(), 405, "no HEAD where there is no GET");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_bodies() {
    let app = spawn().await;
    for raw in ["{", "not json", "[1,2]", "\"str\"", ""] {
        let resp = app
            .client
            .post(app.url("/auth/register"))
            .header("content-type", "application/json")
            .body(raw.to_string())
            .send()
            .await
            .unwrap();
        let r = Reply::from(resp).await;
        assert_eq!(r.status, 400, "{raw:?}: {}", r.body);
    }
    let huge = format!(r#"{{"email":"{}"}}"#, "a".repeat(2 << 20));
    for path in ["/auth/register", "/auth/login"] {
        let resp = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(huge.clone())
            .send()
            .await
            .unwrap();
        let r = Reply::from(resp).await;
        assert_eq!(r.status, 413, "{path}");
    }
    // Without a Content-Length the limit still holds while streaming.
    let chunks = futures::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(vec![b' '; 4096])));
    let resp =
        app.client.post(app.url("/auth/register")).body(reqwest::Body::wrap_stream(chunks)).send().await.unwrap();
    assert_eq!(Reply::from(resp).await.status, 413);
    // The service is still fine afterwards.
    assert_eq!(app.get("/healthz").await.status, 200);
}

/// The shipped component has no test hooks: the old fault routes are unknown paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_serves_no_fault_routes() {
    let app = spawn_with(Options::default().env("ASM_FAULT_ROUTES", "1")).await;
    for path in ["/__fault/trap", "/__fault/loop", "/__fault/alloc"] {
        let started = std::time::Instant::now();
        for method in ["GET", "POST"] {
            let req = app.client.request(method.parse().unwrap(), app.url(path));
            assert_eq!(Reply::from(req.send().await.unwrap()).await.status, 404, "{method} {path}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{path} answered at once");
    }
    let wasm = std::fs::read(component()).unwrap();
    assert!(!wasm.windows(8).any(|w| w == b"__fault/"), "no fault route is compiled into the component");
}

/// The account page and its files come from the component itself, under the page's policy; the
/// browser tests (host/tests/browser) use them in Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_is_served_with_its_policy() {
    let app = spawn().await;
    for (path, kind) in [
        ("/account", "text/html"),
        ("/account/reset?token=abc", "text/html"),
        ("/account/verify?token=abc", "text/html"),
        ("/account/assets/account.css", "text/css"),
        ("/account/assets/account.js", "text/javascript"),
    ] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_string());
        assert!(header("content-type").unwrap().starts_with(kind), "{path}");
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
        let etag = header("etag").expect("an etag");
        if kind == "text/html" {
            let policy = header("content-security-policy").expect("a policy");
            assert!(policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
            assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
            // Its address may carry a mailed token.
            assert_eq!(header("cache-control").as_deref(), Some("no-store"));
        } else {
            assert_eq!(header("cache-control").as_deref(), Some("no-cache"));
        }
        let body = resp.text().await.unwrap();
        assert!(body.len() > 500, "{path}: {} bytes", body.len());
        let again = app.client.get(app.url(path)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let r = app.get("/account/nope").await;
    assert_eq!(r.status, 404);
}
