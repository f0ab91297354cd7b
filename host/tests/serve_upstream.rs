//! `rewho serve --upstream`: the reverse proxy in front of a test application. Identity
//! headers are added and spoofed copies stripped, the application's 401 becomes the
//! challenge, remember headers are appended, and multi-megabyte bodies stream both ways
//! (the upstream sees the upload, and the client the download, before either has ended).
#![cfg(feature = "server")]

mod common;
mod serve_support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{who_ini, WhoIni};
use http_body_util::BodyExt;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serve_support::{ChannelBody, Http, Rewho, Upstream};

/// Header credentials (`hdr` + `accept`), metadata sent downstream as `X-Test-Md`, browsers
/// redirected, other clients challenged by `marker`. `X-Test-Md` is listed in
/// `strip_headers` so it is stripped even before any request has shown that `md` sets it.
const INI: &str = r#"
[general]
request_classifier = accept_request_classifier
strip_headers = X-Test-Md

[plugin:hdr]
use = testkit:header_identifier

[plugin:accept]
use = testkit:accept
logins = alice
password = secret

[plugin:md]
use = testkit:add_metadata
key = email
value = alice@example.org

[plugin:redirect]
use = testkit:redirect_challenger
login_url = /_rewho/login

[plugin:marker]
use = testkit:marker_challenger

[identifiers]
plugins = hdr

[authenticators]
plugins = accept

[challengers]
plugins =
    redirect;browser
    marker

[mdproviders]
plugins = md
"#;

const ALICE: [(&str, &str); 3] = [
    ("x-test-login", "alice"),
    ("x-test-password", "secret"),
    ("accept", "application/json"),
];
const SPOOF: [(&str, &str); 2] = [("x-remote-user", "root"), ("x-test-md", "root@evil")];
const BROWSER: (&str, &str) = ("accept", "text/html,application/xhtml+xml,*/*;q=0.8");

async fn start() -> (WhoIni, Upstream, Rewho) {
    let ini = who_ini(INI);
    let upstream = Upstream::start().await;
    let rewho = Rewho::start(&[
        "--config",
        ini.path.to_str().unwrap(),
        "--upstream",
        &upstream.url(),
    ]);
    (ini, upstream, rewho)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_are_added_spoofed_ones_stripped_and_remember_headers_appended() {
    let (_ini, upstream, rewho) = start().await;
    let http = Http::new();

    // Anonymous, with forged identity headers: the app answers, and sees none of them.
    let r = http
        .get(
            &rewho.url("/public"),
            &[SPOOF[0], SPOOF[1], ("accept", "application/json")],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-upstream"), Some("yes"));
    let seen = upstream.seen.lock().unwrap().last().cloned().unwrap();
    assert!(!seen.contains_key("x-remote-user"), "{seen:?}");
    assert!(!seen.contains_key("x-test-md"), "{seen:?}");

    // Authenticated, with the same forgeries: the app sees rewho's values, once each.
    let mut headers = ALICE.to_vec();
    headers.extend(SPOOF);
    let r = http.get(&rewho.url("/account?tab=1"), &headers).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.starts_with("path: /account\n"), "{}", r.body);
    assert!(r.body.contains("\nx-remote-user: alice\n"), "{}", r.body);
    assert!(
        r.body.contains("\nx-test-md: alice@example.org\n"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("root"), "{}", r.body);
    let seen = upstream.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    assert_eq!(seen["x-forwarded-host"], rewho.addr.to_string());
    assert_eq!(seen["host"], upstream.addr.to_string());
    // The app's own headers, then the identifier's remember header.
    assert_eq!(r.header("x-upstream"), Some("yes"));
    assert_eq!(r.all("x-remember"), ["hdr=alice"]);
    assert!(r.header("x-request-id").is_some());

    // Wrong password: anonymous, so the forged headers are still stripped.
    let r = http
        .get(
            &rewho.url("/public"),
            &[
                ("x-test-login", "alice"),
                ("x-test-password", "nope"),
                SPOOF[0],
                SPOOF[1],
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("x-remote-user"), "{}", r.body);
    assert!(!r.body.contains("x-test-md"), "{}", r.body);
    assert!(r.header("x-remember").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_401_becomes_the_challenge() {
    let (_ini, upstream, rewho) = start().await;
    let http = Http::new();

    let r = http
        .get(&rewho.url("/status/401"), &[("accept", "application/json")])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("x-challenger"), Some("marker"), "{r:?}");
    assert!(
        !r.body.contains("upstream said"),
        "the app's 401 went out: {r:?}"
    );
    assert!(r.header("x-upstream").is_none());

    let r = http.get(&rewho.url("/status/401?a=b"), &[BROWSER]).await;
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(
        r.header("location").unwrap(),
        format!(
            "/_rewho/login?came_from=http%3A%2F%2F127.0.0.1%3A{}%2Fstatus%2F401%3Fa%3Db",
            rewho.addr.port()
        )
    );

    // An authenticated user the app still refuses is challenged too (repoze.who's decider).
    let r = http.get(&rewho.url("/status/401"), &ALICE).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("x-challenger"), Some("marker"));

    // Other statuses are the app's own.
    let r = http.get(&rewho.url("/status/403"), &ALICE).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, "upstream said 403\n");
    assert_eq!(r.all("x-remember"), ["hdr=alice"]);
    let r = http
        .get(&rewho.url("/status/404"), &[("accept", "application/json")])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(upstream.seen.lock().unwrap().len(), 5);
}

const MIB: usize = 1 << 20;

/// Waits (bounded) until `cond` holds, without blocking the runtime.
async fn eventually(what: &str, within: Duration, cond: impl Fn() -> bool) {
    let end = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_streams_to_the_upstream_before_it_ends() {
    let (_ini, upstream, rewho) = start().await;
    let client: Client<HttpConnector, ChannelBody> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let mut req = http::Request::post(rewho.url("/upload"));
    for (n, v) in ALICE {
        req = req.header(n, v);
    }
    let req = req.body(ChannelBody(rx)).unwrap();
    let response = tokio::spawn(client.request(req));

    tx.send(Bytes::from(vec![b'u'; MIB])).await.unwrap();
    // The first MiB reaches the app while the client still holds the rest back.
    eventually(
        "the first MiB at the upstream",
        Duration::from_secs(30),
        || upstream.progress.load(Ordering::SeqCst) >= MIB,
    )
    .await;
    assert!(!response.is_finished());
    for _ in 0..15 {
        tx.send(Bytes::from(vec![b'u'; MIB])).await.unwrap();
    }
    drop(tx);
    let resp = tokio::time::timeout(Duration::from_secs(60), response)
        .await
        .expect("upload timed out")
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get_all("x-remember").iter().count(),
        1,
        "{resp:?}"
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, format!("received {} bytes\n", 16 * MIB));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_streams_to_the_client_before_it_ends() {
    let (_ini, upstream, rewho) = start().await;
    let client: Client<HttpConnector, http_body_util::Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut req = http::Request::get(rewho.url("/download"));
    for (n, v) in ALICE {
        req = req.header(n, v);
    }
    let resp = tokio::time::timeout(
        Duration::from_secs(30),
        client.request(req.body(http_body_util::Empty::new()).unwrap()),
    )
    .await
    .expect("no response head")
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("x-remember").unwrap(),
        "hdr=alice",
        "remember headers go on the streamed response"
    );
    let mut body = resp.into_body();
    let mut got = 0usize;
    // The app has produced 1 MiB and waits: the client gets it all the same.
    while got < MIB {
        let frame = tokio::time::timeout(Duration::from_secs(30), body.frame())
            .await
            .expect("the first MiB did not arrive while the app held the rest")
            .expect("body ended early")
            .unwrap();
        if let Some(d) = frame.data_ref() {
            got += d.len();
        }
    }
    assert_eq!(got, MIB);
    upstream.release.notify_one();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(30), body.frame())
        .await
        .expect("the rest did not arrive")
    {
        if let Some(d) = frame.unwrap().data_ref() {
            got += d.len();
        }
    }
    assert_eq!(got, 8 * MIB);
}
