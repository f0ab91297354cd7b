//! A small axum app behind rewho's [`WhoLayer`]: a public page, a page only users see, and a
//! login/logout view written in Rust on the per-request [`WhoApi`].
//!
//! The layer authenticates every request before the handlers run. Handlers say what they
//! need with extractors: [`MaybeWhoIdentity`] for pages anyone may see, [`WhoIdentity`] for
//! pages that need a user (an anonymous request then answers 401, which the layer replaces
//! with the configured challenge: the redirect to `/login` for browsers, Basic for others).

use axum::extract::Query;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use rewho::{to_header_map, ApiFactory, MaybeWhoIdentity, WhoApi, WhoIdentity, WhoLayer};
use serde::Deserialize;

/// The app, with rewho in front of every route.
pub fn app(factory: ApiFactory) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/private", get(private))
        .route("/login", get(login_form).post(login))
        .route("/logout", get(logout))
        .layer(WhoLayer::new(factory))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

fn user_of(identity: &rewho::Identity) -> String {
    identity
        .userid()
        .map(|u| u.to_display_string())
        .unwrap_or_default()
}

async fn home(MaybeWhoIdentity(who): MaybeWhoIdentity) -> Html<String> {
    Html(match who {
        Some(identity) => format!(
            "<p>Hello, {}. <a href=\"/private\">Private page</a> · \
             <a href=\"/logout\">Log out</a></p>\n",
            escape(&user_of(&identity))
        ),
        None => "<p>Hello, stranger. <a href=\"/private\">Private page</a> · \
                 <a href=\"/login\">Log in</a></p>\n"
            .to_owned(),
    })
}

async fn private(WhoIdentity(identity): WhoIdentity) -> Html<String> {
    Html(format!(
        "<p>Only users see this. You are {}.</p>\n",
        escape(&user_of(&identity))
    ))
}

/// Where to go after logging in: a path on this site, never another site.
fn local_target(came_from: &str) -> &str {
    let path = match came_from.split_once("://") {
        // The redirector sends the full URL the user asked for; keep only its path.
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => came_from,
    };
    if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') {
        path
    } else {
        "/"
    }
}

#[derive(Deserialize, Default)]
struct CameFrom {
    #[serde(default)]
    came_from: String,
}

fn form_page(came_from: &str, message: Option<&str>) -> String {
    format!(
        "<h1>Log in</h1>\n{}<form method=\"post\" action=\"/login\">\n\
         <input type=\"hidden\" name=\"came_from\" value=\"{}\">\n\
         <label>Login <input name=\"login\"></label>\n\
         <label>Password <input name=\"password\" type=\"password\"></label>\n\
         <button>Log in</button>\n</form>\n",
        message.map_or(String::new(), |m| format!("<p>{}</p>\n", escape(m))),
        escape(came_from)
    )
}

async fn login_form(Query(q): Query<CameFrom>) -> Html<String> {
    Html(form_page(&q.came_from, None))
}

#[derive(Deserialize)]
struct LoginForm {
    login: String,
    password: String,
    #[serde(default)]
    came_from: String,
}

/// `Api::login` with the form's credentials: on success the remember headers (the auth_tkt
/// cookie) and a redirect; on failure the form again with the forget headers.
async fn login(api: WhoApi, Form(form): Form<LoginForm>) -> Response {
    let (identity, headers) = api.login_with_password(&form.login, &form.password).await;
    let headers = to_header_map(&headers);
    match identity {
        Some(_) => {
            let target = local_target(&form.came_from);
            let mut r = (StatusCode::SEE_OTHER, headers).into_response();
            if let Ok(v) = HeaderValue::from_str(target) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => (
            headers,
            Html(form_page(&form.came_from, Some("Wrong login or password."))),
        )
            .into_response(),
    }
}

/// `Api::logout`: every identifier's forget headers, then home.
async fn logout(api: WhoApi) -> Response {
    let headers = api.logout().await;
    let mut r = (StatusCode::SEE_OTHER, to_header_map(&headers)).into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/"));
    r
}

#[cfg(test)]
mod tests {
    use super::local_target;

    #[test]
    fn came_from_stays_on_the_site() {
        assert_eq!(
            local_target("http://app.example/private?x=1"),
            "/private?x=1"
        );
        assert_eq!(local_target("/private"), "/private");
        for evil in [
            "//evil.example/",
            "https://evil.example",
            "javascript:alert(1)",
            "/\\evil",
        ] {
            assert_eq!(local_target(evil), "/", "{evil}");
        }
    }
}
