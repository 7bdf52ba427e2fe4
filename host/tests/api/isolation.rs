//! A failing or slow request costs that request, never the host or its neighbours.

use crate::support::*;
use std::time::{Duration, Instant};

/// A host serving the fault component, with a short deadline.
fn faulty() -> Options {
    Options::default().arg("--component", fault_component().to_str().unwrap()).arg("--request-timeout", "2s")
}

/// The fault component answers `ok` in plain text on any other path.
async fn ok(app: &TestApp) -> bool {
    let resp = client().get(app.url("/anything")).send().await.unwrap();
    resp.status() == 200 && resp.text().await.unwrap() == "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_is_that_requests_500_and_the_next_request_succeeds() {
    let app = spawn_with(faulty()).await;
    let r = app.get("/trap").await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(ok(&app).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_loops_and_allocations_are_cut_off_while_others_are_served() {
    let app = spawn_with(faulty()).await;
    let started = Instant::now();
    let spin = tokio::spawn({
        let url = app.url("/loop");
        async move { Reply::from(client().get(url).send().await.unwrap()).await.status }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Served while the loop runs.
    assert!(ok(&app).await);
    assert!(!spin.is_finished(), "the loop is still running");
    let status = spin.await.unwrap();
    assert!(status >= 500, "{status}");
    assert!(started.elapsed() < Duration::from_secs(10), "cut off by the deadline");

    let r = app.get("/alloc").await;
    assert_eq!(r.status, 500, "memory cap: {}", r.body);
    assert!(ok(&app).await);
}

/// At bcrypt's cost 12 a login spends about 0.3 s hashing inside the component; the
/// component yields at every epoch tick, so other requests are answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_in_flight_do_not_stall_other_requests() {
    let app = spawn_with(Options::default().env("PASSWORD_HASH", "bcrypt").env("BCRYPT_COST", "12")).await;
    let creds = app.new_user().await;
    let token = app.login(&creds).await.token().unwrap();

    let logins: Vec<_> = (0..4)
        .map(|_| {
            let (url, email, password) = (app.url("/auth/login"), creds.email.clone(), creds.password.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let body = serde_json::json!({ "email": email, "password": password });
                let status = client().post(url).json(&body).send().await.unwrap().status();
                (status.as_u16(), started.elapsed(), Instant::now())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let me_started = Instant::now();
    let me = app.get_as(&token, "/auth/user/me").await;
    let me_took = me_started.elapsed();
    let me_done = Instant::now();
    assert_eq!(me.status, 200);

    let mut slowest = Duration::ZERO;
    let mut last_done = me_done;
    for l in logins {
        let (status, took, done) = l.await.unwrap();
        assert_eq!(status, 200);
        slowest = slowest.max(took);
        last_done = last_done.max(done);
    }
    eprintln!("/me took {me_took:?} while 4 logins ran; the slowest login took {slowest:?}");
    assert!(last_done > me_done, "/me answered while logins were still hashing");
    assert!(me_took * 4 < slowest, "/me took {me_took:?}, the slowest login {slowest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_requests_in_flight_finish() {
    let app = spawn_with(Options::default().env("PASSWORD_HASH", "bcrypt").env("BCRYPT_COST", "12")).await;
    let creds = app.new_user().await;
    let login = tokio::spawn({
        let (url, email, password) = (app.url("/auth/login"), creds.email.clone(), creds.password.clone());
        async move {
            let body = serde_json::json!({ "email": email, "password": password });
            client().post(url).json(&body).send().await.map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let base = app.base.clone();
    app.shutdown().await;
    assert_eq!(login.await.unwrap().expect("the in-flight login was not cut"), 200);
    assert!(client().get(format!("{base}/healthz")).send().await.is_err(), "no longer accepting");
}
