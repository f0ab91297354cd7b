//! `WhoLayer` around an axum app, in process: extractors, challenge on 401, remember headers,
//! a login/logout view, spoofed headers stripped, I/O chains off the async workers.
#![cfg(feature = "server")]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use rewho::{
    to_header_map, ApiFactory, MaybeWhoIdentity, SharedFactory, WhoApi, WhoIdentity, WhoLayer,
};
use tower::ServiceExt;

const INI: &str = r#"
[general]
request_classifier = accept_request_classifier

[plugin:cookie]
use = testkit:test_cookie

[plugin:hdr]
use = testkit:header_identifier

[plugin:accept]
use = testkit:accept
logins = alice bob
password = secret

[plugin:md]
use = testkit:add_metadata
key = email
value = alice@example.org

[plugin:redirect]
use = testkit:redirect_challenger
login_url = /login

[plugin:marker]
use = testkit:marker_challenger

[identifiers]
plugins = cookie hdr

[authenticators]
plugins = cookie accept

[challengers]
plugins =
    redirect;browser
    marker

[mdproviders]
plugins = md
"#;

fn factory(text: &str) -> (common::WhoIni, ApiFactory) {
    let ini = common::who_ini(text);
    let f = ApiFactory::from_config_file(&ini.path).unwrap_or_else(|e| panic!("{e}"));
    (ini, f)
}

fn show_headers(h: &HeaderMap) -> String {
    let mut v: Vec<String> = h
        .iter()
        .map(|(n, v)| format!("{n}={}", v.to_str().unwrap_or("?")))
        .collect();
    v.sort();
    v.join("\n")
}

async fn me(WhoIdentity(id): WhoIdentity, headers: HeaderMap) -> String {
    format!(
        "user={}\n{}",
        id.userid().unwrap().to_display_string(),
        show_headers(&headers)
    )
}

async fn maybe(MaybeWhoIdentity(id): MaybeWhoIdentity, headers: HeaderMap) -> String {
    format!(
        "user={}\n{}",
        id.as_ref()
            .and_then(|i| i.userid())
            .map(|u| u.to_display_string())
            .unwrap_or_else(|| "anonymous".into()),
        show_headers(&headers)
    )
}

async fn login(api: WhoApi, body: String) -> axum::response::Response {
    let (login, password) = body.split_once(':').unwrap();
    let (identity, headers) = api.login_with_password(login, password).await;
    match identity {
        Some(_) => (StatusCode::FOUND, to_header_map(&headers), "welcome").into_response(),
        None => (StatusCode::OK, to_header_map(&headers), "try again").into_response(),
    }
}

async fn logout(api: WhoApi) -> axum::response::Response {
    let headers = api.logout().await;
    (to_header_map(&headers), "bye").into_response()
}

fn app(layer: WhoLayer) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .route("/login", post(login))
        .route("/logout", get(logout))
        .layer(layer)
}

struct Out {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn call(app: &Router, req: Request<Body>) -> Out {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Out {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn get_req(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::builder().uri(path);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(Body::empty()).unwrap()
}

const ALICE: [(&str, &str); 2] = [("x-test-login", "alice"), ("x-test-password", "secret")];
const BROWSER: (&str, &str) = ("accept", "text/html");

#[tokio::test]
async fn identity_reaches_the_handler_with_plugin_headers_and_remember_headers() {
    let (_ini, f) = factory(INI);
    let app = app(WhoLayer::new(f));
    let out = call(&app, get_req("/me", &ALICE)).await;
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.body.starts_with("user=alice\n"), "{}", out.body);
    assert!(out.body.contains("x-remote-user=alice"));
    assert!(out.body.contains("x-test-md=alice@example.org"));
    // The header identifier remembers through its own header.
    assert_eq!(out.headers["x-remember"], "hdr=alice");
}

#[tokio::test]
async fn anonymous_requests_to_required_routes_are_challenged_per_classification() {
    let (_ini, f) = factory(INI);
    let app = app(WhoLayer::new(f));
    let api = call(&app, get_req("/me", &[("accept", "*/*")])).await;
    assert_eq!(api.status, 401);
    assert_eq!(api.headers["x-challenger"], "marker");
    let browser = call(
        &app,
        get_req("/me?x=1", &[BROWSER, ("host", "app.example")]),
    )
    .await;
    assert_eq!(browser.status, 302);
    assert_eq!(
        browser.headers["location"],
        "/login?came_from=http%3A%2F%2Fapp.example%2Fme%3Fx%3D1"
    );
    let optional = call(&app, get_req("/maybe", &[BROWSER])).await;
    assert_eq!(optional.status, 200);
    assert!(optional.body.starts_with("user=anonymous"));
}

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_app() {
    let (_ini, f) = factory(INI);
    let shared = SharedFactory::new(f).unwrap().strip_headers(&["X-Groups"]);
    let app = app(WhoLayer::shared(shared));
    let spoof = [
        ("x-remote-user", "admin"),
        ("x-groups", "wheel"),
        ("x-test-md", "forged"),
        ("x-other", "kept"),
    ];
    // Authenticated: the plugin's value replaces the forged one.
    let mut h = spoof.to_vec();
    h.extend(ALICE);
    let out = call(&app, get_req("/maybe", &h)).await;
    assert!(out.body.contains("x-remote-user=alice"), "{}", out.body);
    assert!(out.body.contains("x-test-md=alice@example.org"));
    assert!(!out.body.contains("admin") && !out.body.contains("wheel"));
    assert!(out.body.contains("x-other=kept"));
    // Anonymous: every guarded header is gone, including the one a plugin set earlier.
    let out = call(&app, get_req("/maybe", &spoof)).await;
    assert!(out.body.starts_with("user=anonymous"), "{}", out.body);
    assert!(!out.body.contains("x-remote-user"));
    assert!(!out.body.contains("x-groups"));
    assert!(!out.body.contains("x-test-md"), "{}", out.body);
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_peers() {
    let (_ini, f) = factory(INI);
    let app = app(WhoLayer::new(f));
    let forwarded = [
        BROWSER,
        ("host", "internal:8080"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "public.example"),
    ];
    let mut trusted = get_req("/me", &forwarded);
    trusted
        .extensions_mut()
        .insert(ConnectInfo("127.0.0.1:4000".parse::<SocketAddr>().unwrap()));
    let out = call(&app, trusted).await;
    assert_eq!(
        out.headers["location"],
        "/login?came_from=https%3A%2F%2Fpublic.example%2Fme"
    );
    let mut outsider = get_req("/me", &forwarded);
    outsider.extensions_mut().insert(ConnectInfo(
        "203.0.113.5:4000".parse::<SocketAddr>().unwrap(),
    ));
    let out = call(&app, outsider).await;
    assert_eq!(
        out.headers["location"],
        "/login?came_from=http%3A%2F%2Finternal%3A8080%2Fme"
    );
}

#[tokio::test]
async fn a_login_view_in_rust_and_logout_stops_remembering() {
    let (_ini, f) = factory(INI);
    let app = app(WhoLayer::new(f));
    let ok = call(
        &app,
        Request::post("/login")
            .body(Body::from("alice:secret"))
            .unwrap(),
    )
    .await;
    assert_eq!(ok.status, 302, "{}", ok.body);
    assert_eq!(
        ok.headers["set-cookie"],
        "testkit_user=alice; Path=/; HttpOnly"
    );
    let bad = call(
        &app,
        Request::post("/login")
            .body(Body::from("alice:nope"))
            .unwrap(),
    )
    .await;
    assert_eq!(bad.status, 200);
    assert!(bad.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    // Logged in with a header identity; the handler logs out, so no remember header.
    let out = call(&app, get_req("/logout", &ALICE)).await;
    assert_eq!(out.status, 200);
    assert!(out.headers.get("x-remember").is_none());
    assert!(out.headers.get_all("x-forget").iter().any(|v| v == "hdr"));
}

#[tokio::test]
async fn missing_layer_is_diagnosed() {
    let app: Router = Router::new().route("/me", get(me));
    let out = call(&app, get_req("/me", &ALICE)).await;
    assert_eq!(out.status, 500);
    assert!(out.body.contains("Is `WhoLayer` enabled"), "{}", out.body);
}

#[tokio::test]
async fn no_challenger_is_a_500_not_an_open_door() {
    let (_ini, f) = factory(
        "[plugin:hdr]\nuse = testkit:header_identifier\n[plugin:accept]\nuse = testkit:accept\n\
         logins = alice\n[identifiers]\nplugins = hdr\n[authenticators]\nplugins = accept\n",
    );
    let app = app(WhoLayer::new(f));
    let out = call(&app, get_req("/me", &[])).await;
    assert_eq!(out.status, 500);
}

const SLOW: &str = r#"
[plugin:hdr]
use = testkit:header_identifier

[plugin:slow]
use = testkit:slow_accept
logins = alice bob
sleep_ms = 300

[identifiers]
plugins = hdr

[authenticators]
plugins = slow
"#;

/// On a single-threaded runtime, two requests to a chain that sleeps 300 ms finish together
/// in about 300 ms, and the plugin ran on another thread than the runtime's.
#[tokio::test(flavor = "current_thread")]
async fn io_chains_run_off_the_runtime_thread() {
    let (_ini, f) = factory(SLOW);
    assert!(f.does_io());
    let app = Router::new()
        .route(
            "/thread",
            get(|WhoIdentity(id): WhoIdentity| async move {
                id.get_str("slow_thread").unwrap_or("").to_owned()
            }),
        )
        .layer(WhoLayer::new(f));
    let start = Instant::now();
    let (a, b) = tokio::join!(
        call(&app, get_req("/thread", &[("x-test-login", "alice")])),
        call(&app, get_req("/thread", &[("x-test-login", "bob")])),
    );
    let took = start.elapsed();
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    let here = std::thread::current().name().unwrap_or("").to_owned();
    assert_ne!(a.body, here, "the plugin ran on the runtime's thread");
    assert!(
        took < Duration::from_millis(550),
        "two 300 ms I/O chains took {took:?}: they blocked the runtime"
    );
}
