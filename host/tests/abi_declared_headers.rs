//! A downstream header a plugin *declares* (metadata `downstream_headers`) is stripped from the
//! very first anonymous request after start, at every edge: before ABI 1.0 the edges learnt
//! such names only once a plugin had set one, so the first requests could forge them.
#![cfg(feature = "server")]

mod common;
mod serve_support;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use rewho::{ApiFactory, WhoLayer};
use tower::ServiceExt;

use common::{build_external, workspace};
use serve_support::{Http, Rewho, Upstream};

/// A who.ini whose only plugin (built against ABI 1.0) declares `X-Snap-User`.
fn snapshot_ini(dir: &std::path::Path) -> std::path::PathBuf {
    let lib = build_external(&workspace().join("tests/fixtures/abi-1.0/plugin"))
        .join("librewho_plugin_abi1_snapshot.so");
    let ini = dir.join("who.ini");
    std::fs::write(
        &ini,
        format!(
            "[plugin:snap]\nuse = {}\npassword = pw\n\n[identifiers]\nplugins = snap\n\
             [authenticators]\nplugins = snap\n[challengers]\nplugins = snap\n\
             [mdproviders]\nplugins = snap\n",
            lib.display()
        ),
    )
    .unwrap();
    ini
}

const FORGED: [(&str, &str); 3] = [
    ("X-Snap-User", "admin"),
    ("x_snap_user", "admin"),
    ("X-SNAP-USER", "root"),
];

async fn echo(headers: HeaderMap) -> String {
    let mut names: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
    names.sort();
    names.join(",")
}

#[tokio::test]
async fn the_tower_layer_strips_a_declared_header_from_the_first_request() {
    let dir = tempfile::tempdir().unwrap();
    let factory = ApiFactory::from_config_file(&snapshot_ini(dir.path())).unwrap();
    let app = Router::new()
        .route("/open", get(echo))
        .layer(WhoLayer::new(factory));
    let mut req = Request::builder().uri("/open");
    for (n, v) in FORGED {
        req = req.header(n, v);
    }
    let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let seen = String::from_utf8_lossy(&body).to_lowercase();
    assert!(
        !seen.contains("snap"),
        "the app saw a forged declared header: {seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reverse_proxy_and_forward_auth_strip_a_declared_header_from_the_first_request() {
    let dir = tempfile::tempdir().unwrap();
    let ini = snapshot_ini(dir.path());
    let upstream = Upstream::start().await;
    let rewho = Rewho::start(&[
        "--config",
        ini.to_str().unwrap(),
        "--upstream",
        &upstream.url(),
    ]);
    let http = Http::new();
    // The very first request after start: anonymous, forging the declared header.
    let r = http.get(&rewho.url("/anything"), &FORGED).await;
    let seen = upstream.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|h| h.keys().all(|k| !k.contains("snap"))),
        "the upstream saw a forged declared header ({r:?}): {seen:?}"
    );
    // Forward-auth answers with what plugins set, never the client's copy.
    let r = http.get(&rewho.url("/_rewho/auth"), &FORGED).await;
    assert!(r.header("x-snap-user").is_none(), "{r:?}");
    // And the real value still flows for a signed-in user.
    let r = http
        .get(
            &rewho.url("/_rewho/auth"),
            &[("X-Snap-Login", "alice"), ("X-Snap-Password", "pw")],
        )
        .await;
    assert_eq!(r.header("x-snap-user"), Some("alice"), "{r:?}");
}
