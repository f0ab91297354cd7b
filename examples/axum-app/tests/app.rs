//! The example app as shipped (its who.ini, the standard plugins, ../demo.htpasswd), driven
//! in process: public and private pages, the login redirect, Basic for non-browsers, the
//! login view setting the auth_tkt cookie, logout.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

const BROWSER: (&str, &str) = ("accept", "text/html,application/xhtml+xml,*/*;q=0.8");

fn app() -> Router {
    let ini = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("who.ini");
    let factory = rewho::ApiFactory::from_config_file(&ini)
        .unwrap_or_else(|e| panic!("{e:#}\n(build the plugins first: `cargo build --workspace`)"));
    rewho_example_axum_app::app(factory)
}

struct Out {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Out {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn ticket(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|c| c.split(';').next())
            .find(|c| c.starts_with("auth_tkt=") && !c.contains("INVALID"))
            .map(str::to_owned)
    }
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

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

#[tokio::test]
async fn browse_log_in_and_out() {
    let app = app();
    let r = send(&app, "GET", "/", &[BROWSER], "").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Hello, stranger"), "{}", r.body);

    let r = send(&app, "GET", "/private", &[BROWSER], "").await;
    assert_eq!(r.status, 302, "{}", r.body);
    let location = r.header("location").unwrap();
    assert!(
        location.ends_with("/login?came_from=http%3A%2F%2Fapp.example%2Fprivate"),
        "{location}"
    );

    let r = send(
        &app,
        "GET",
        "/login?came_from=%22%3E%3Cb%3E",
        &[BROWSER],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("value=\"&quot;&gt;&lt;b&gt;\""),
        "{}",
        r.body
    );

    let r = send(
        &app,
        "POST",
        "/login",
        &[BROWSER, FORM],
        "login=demo&password=wrong&came_from=%2Fprivate",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Wrong login or password."));
    assert_eq!(r.ticket(), None);

    let r = send(
        &app,
        "POST",
        "/login",
        &[BROWSER, FORM],
        "login=demo&password=demo&came_from=http%3A%2F%2Fapp.example%2Fprivate",
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/private"));
    let ticket = r.ticket().expect("no auth_tkt cookie");

    let r = send(&app, "GET", "/private", &[BROWSER, ("cookie", &ticket)], "").await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("You are demo."), "{}", r.body);
    let r = send(&app, "GET", "/", &[BROWSER, ("cookie", &ticket)], "").await;
    assert!(r.body.contains("Hello, demo."), "{}", r.body);

    let r = send(&app, "GET", "/logout", &[BROWSER, ("cookie", &ticket)], "").await;
    assert_eq!(r.status, 303);
    assert!(
        r.headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().contains("Max-Age=0")),
        "logout did not forget the cookie"
    );
    assert_eq!(r.ticket(), None, "logout remembered the user again");
}

#[tokio::test]
async fn api_clients_use_basic() {
    let app = app();
    let r = send(
        &app,
        "GET",
        "/private",
        &[("accept", "application/json")],
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"axum example\"")
    );
    // demo:demo
    let r = send(
        &app,
        "GET",
        "/private",
        &[("authorization", "Basic ZGVtbzpkZW1v")],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("You are demo."));
    // demo:nope
    let r = send(
        &app,
        "GET",
        "/private",
        &[("authorization", "Basic ZGVtbzpub3Bl")],
        "",
    )
    .await;
    assert_eq!(r.status, 401);
}
