//! The example app end to end, in process, on its own who.ini and the bundled plugins
//! (built by `cargo build --workspace`): the browser login flow, HTTP Basic clients, logout,
//! and `came_from` that never leaves the site.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use rewho::ApiFactory;
use rewho_example_axum_app::{app, same_site};
use tower::ServiceExt;

const BROWSER: (&str, &str) = ("accept", "text/html,application/xhtml+xml");
/// `demo:demo` (examples/demo.htpasswd).
const DEMO_BASIC: &str = "Basic ZGVtbzpkZW1v";

fn example_app() -> Router {
    let ini = concat!(env!("CARGO_MANIFEST_DIR"), "/who.ini");
    let factory = ApiFactory::from_config_file(ini.as_ref()).unwrap_or_else(|e| {
        panic!("{e}\n(the bundled plugins are built by `cargo build --workspace`)")
    });
    app(factory)
}

struct Out {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(app: &Router, method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Out {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "app.example");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let resp = app
        .clone()
        .oneshot(b.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Out {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// `name=value` of the auth_tkt cookie the response sets (the host-only one).
fn auth_cookie(out: &Out) -> String {
    out.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("auth_tkt=") && !c.contains("Domain"))
        .and_then(|c| c.split(';').next())
        .expect("an auth_tkt cookie")
        .to_owned()
}

#[tokio::test]
async fn browser_login_flow() {
    let app = example_app();
    let home = send(&app, "GET", "/", &[BROWSER], "").await;
    assert_eq!(home.body, "hello, stranger\n");

    // Anonymous browser on the private page: sent to the app's login view.
    let r = send(&app, "GET", "/private?tab=1", &[BROWSER], "").await;
    assert_eq!(r.status, StatusCode::FOUND);
    let location = r.headers["location"].to_str().unwrap();
    // The redirector makes the login URL absolute, as repoze.who's (WebOb's) does; the layer
    // then makes a Location on the request's own (client-chosen) origin relative, so a forged
    // Host never sends the browser elsewhere (SECURITY.md, "Header trust").
    assert_eq!(
        location,
        "/login?came_from=http%3A%2F%2Fapp.example%2Fprivate%3Ftab%3D1"
    );
    let path = location;
    let form = send(&app, "GET", path, &[BROWSER], "").await;
    assert!(
        form.body
            .contains("value=\"http://app.example/private?tab=1\""),
        "{}",
        form.body
    );

    // A wrong password: the form again, no cookie.
    let form_type = ("content-type", "application/x-www-form-urlencoded");
    let bad = send(
        &app,
        "POST",
        "/login",
        &[BROWSER, form_type],
        "login=demo&password=nope",
    )
    .await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad.body.contains("Wrong login or password."));
    // Only forget headers (expired cookies), never a ticket.
    let set: Vec<&str> = bad
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(set.iter().all(|c| c.contains("Max-Age=0")), "{set:?}");

    // The right one: remembered, and back where the user came from.
    let ok = send(
        &app,
        "POST",
        "/login",
        &[BROWSER, form_type],
        "login=demo&password=demo&came_from=http%3A%2F%2Fapp.example%2Fprivate%3Ftab%3D1",
    )
    .await;
    assert_eq!(ok.status, StatusCode::FOUND, "{}", ok.body);
    assert_eq!(ok.headers["location"], "http://app.example/private?tab=1");
    let cookie = auth_cookie(&ok);
    let private = send(
        &app,
        "GET",
        "/private?tab=1",
        &[BROWSER, ("cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(private.status, StatusCode::OK);
    assert_eq!(private.body, "private page of demo\n");

    // Logout forgets the cookie.
    let out = send(&app, "GET", "/logout", &[BROWSER, ("cookie", &cookie)], "").await;
    assert_eq!(out.status, StatusCode::FOUND);
    let forget: Vec<&str> = out
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        forget
            .iter()
            .any(|c| c.starts_with("auth_tkt=") && c.contains("Max-Age=0")),
        "{forget:?}"
    );
}

#[tokio::test]
async fn basic_clients_get_basic() {
    let app = example_app();
    let anonymous = send(&app, "GET", "/private", &[("accept", "*/*")], "").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers["www-authenticate"],
        "Basic realm=\"axum example\""
    );
    let wrong = send(
        &app,
        "GET",
        "/private",
        &[("authorization", "Basic ZGVtbzp4")],
        "",
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let ok = send(
        &app,
        "GET",
        "/private",
        &[("authorization", DEMO_BASIC)],
        "",
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body, "private page of demo\n");
}

#[tokio::test]
async fn login_never_redirects_off_site() {
    let app = example_app();
    let form_type = ("content-type", "application/x-www-form-urlencoded");
    for evil in [
        "https%3A%2F%2Fevil.example%2F",
        "%2F%2Fevil.example%2F",
        "%2F%5Cevil.example",
        "http%3A%2F%2Fapp.example%40evil.example%2F",
        "javascript%3Aalert(1)",
    ] {
        let r = send(
            &app,
            "POST",
            "/login",
            &[BROWSER, form_type],
            &format!("login=demo&password=demo&came_from={evil}"),
        )
        .await;
        assert_eq!(r.status, StatusCode::FOUND);
        assert_eq!(r.headers["location"], "/", "came_from={evil}");
    }
}

#[test]
fn same_site_rules() {
    let host = Some("app.example");
    assert_eq!(same_site("/a?b=1", host), Some("/a?b=1"));
    assert_eq!(
        same_site("https://app.example/x", host),
        Some("https://app.example/x")
    );
    assert_eq!(
        same_site("http://APP.example", host),
        Some("http://APP.example")
    );
    assert_eq!(same_site("//evil.example/", host), None);
    assert_eq!(same_site("/\\evil.example", host), None);
    assert_eq!(same_site("https://evil.example/", host), None);
    assert_eq!(same_site("https://app.example.evil/", host), None);
    assert_eq!(same_site("https://app.example@evil/", host), None);
    assert_eq!(same_site("https://app.example/", None), None);
    assert_eq!(same_site("", host), None);
}
