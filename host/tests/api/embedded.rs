//! The embedded store: the whole flow on a SQLite file, with no PostgreSQL or Redis (native host).

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_sqlite_store_serves_the_whole_flow_without_postgres_or_redis() {
    let url = sqlite_url();
    let opts = Options { database_url: Some(url.clone()), redis_url: Some(String::new()), ..Options::default() };
    let app = spawn_with(opts.clone()).await;
    let creds = app.new_user().await;
    let token = app.login(&creds).await.token().unwrap();
    assert_eq!(app.get("/auth/user/me").await.body["data"]["user"]["email"], creds.email);
    assert_eq!(app.get("/auth/user/sessions").await.body["data"]["total_active_sessions"], 1);
    assert_eq!(app.get("/readyz").await.status, 200);
    app.shutdown().await;

    // Durable across restarts: the same file still knows the user and the session.
    let again = spawn_with(opts).await;
    assert_eq!(again.get_as(&token, "/auth/user/me").await.status, 200);
    let r =
        Reply::from(reqwest::Client::new().post(again.url("/auth/logout")).bearer_auth(&token).send().await.unwrap())
            .await;
    assert_eq!(r.status, 200);
    assert_eq!(again.get_as(&token, "/auth/user/me").await.status, 401);
}
