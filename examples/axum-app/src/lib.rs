//! A small axum app behind rewho's [`WhoLayer`]: a public page, a private page, and a login
//! view written in Rust (the seed's `login` example, with `api.login` and `api.logout`).
//!
//! The layer does the authentication work: handlers only say what they need. A handler that
//! takes [`WhoIdentity`] answers 401 to anonymous users, and the layer turns that 401 into the
//! configured challenge (a redirect to `/login` for browsers, HTTP Basic for other clients).

use axum::extract::Query;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use rewho::{to_header_map, ApiFactory, MaybeWhoIdentity, WhoApi, WhoIdentity, WhoLayer};
use serde::Deserialize;

/// The whole app, wrapped in the rewho layer built from `factory`.
pub fn app(factory: ApiFactory) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/private", get(private))
        .route("/login", get(login_form).post(login))
        .route("/logout", get(logout))
        .layer(WhoLayer::new(factory))
}

/// Anyone may look; signed-in users are greeted by name.
async fn home(MaybeWhoIdentity(identity): MaybeWhoIdentity) -> String {
    match identity.as_ref().and_then(|i| i.userid()) {
        Some(user) => format!("hello, {}\n", user.to_display_string()),
        None => "hello, stranger\n".to_owned(),
    }
}

/// Only for signed-in users: anonymous requests are challenged by the layer.
async fn private(WhoIdentity(identity): WhoIdentity) -> String {
    let user = identity.userid().map(|u| u.to_display_string());
    format!("private page of {}\n", user.unwrap_or_default())
}

/// What the login form posts (and what the redirector puts in the query).
#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    came_from: String,
}

async fn login_form(Query(form): Query<LoginForm>) -> Html<String> {
    Html(form_page(&form.came_from, ""))
}

/// `api.login` with the posted credentials: on success remember the user and go back to
/// `came_from` (same site only); on failure show the form again with the forget headers.
async fn login(api: WhoApi, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let (identity, who_headers) = api.login_with_password(&form.login, &form.password).await;
    let mut response = match identity {
        Some(_) => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            let target = same_site(&form.came_from, host).unwrap_or("/");
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(target) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => Html(form_page(&form.came_from, "Wrong login or password.")).into_response(),
    };
    response.headers_mut().extend(to_header_map(&who_headers));
    response
}

/// `api.logout`: every identifier forgets, and this response remembers no one.
async fn logout(api: WhoApi) -> Response {
    let who_headers = api.logout().await;
    let mut r = (StatusCode::FOUND, [(header::LOCATION, "/")]).into_response();
    r.headers_mut().extend(to_header_map(&who_headers));
    r
}

/// `came_from` if it stays on this site: a local path (not `//host` or `/\host`, which
/// browsers treat as another site), or an absolute http(s) URL on the request's own host.
/// Anything else is an open redirect and is dropped.
pub fn same_site<'a>(came_from: &'a str, host: Option<&str>) -> Option<&'a str> {
    if let Some(rest) = came_from.strip_prefix('/') {
        let other_site = rest.starts_with('/') || rest.starts_with('\\');
        return (!other_site).then_some(came_from);
    }
    let after_scheme = came_from
        .strip_prefix("http://")
        .or_else(|| came_from.strip_prefix("https://"))?;
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = host?;
    (!authority.contains('@') && authority.eq_ignore_ascii_case(host)).then_some(came_from)
}

fn form_page(came_from: &str, message: &str) -> String {
    format!(
        "<!doctype html><title>Log in</title><p>{}</p>\
         <form method=\"post\" action=\"/login\">\
         <input name=\"login\" placeholder=\"login\"> \
         <input name=\"password\" type=\"password\" placeholder=\"password\"> \
         <input type=\"hidden\" name=\"came_from\" value=\"{}\">\
         <button>Log in</button></form>\n",
        escape(message),
        escape(came_from)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
