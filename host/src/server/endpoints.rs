//! The `/_rewho/` handlers and the access log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{FromRequest, Query, State};
use axum::middleware::Next;
use axum::Form;
use http::header::{HeaderName, HeaderValue, LOCATION};
use http::{Request, Response, StatusCode};
use rewho_plugin_api::{HeaderEdit, HeaderField};
use serde::Deserialize;
use tracing::Instrument;

use super::csrf;
use super::pages;
use super::proxy::{html, plain};
use super::AppState;
use crate::middleware::{
    append_fields, peer_of, rebuild, relative_location, snapshot, Outcome, Provenance, Rebuild,
    WhoApi,
};
use crate::{Api, Authz, Egress, Ingress, REMOTE_USER_HEADER};

fn with_outcome(mut r: Response<Body>, outcome: Outcome) -> Response<Body> {
    r.extensions_mut().insert(outcome);
    r
}

/// A per-request [`WhoApi`] for one of rewho's own endpoints, from `peer`.
fn api_for(
    app: &AppState,
    parts: &http::request::Parts,
    peer: Option<SocketAddr>,
    mode: Rebuild,
) -> (WhoApi, Provenance) {
    let loaded = app.shared.load();
    let (request, prov) = snapshot(parts, peer, &loaded.trusted, loaded.public.as_ref(), mode);
    (WhoApi::new(loaded, Arc::new(request)), prov)
}

enum Verdict {
    Allow {
        /// `None`: an anonymous request an authorizer explicitly allowed.
        user: Option<String>,
        edits: Vec<HeaderEdit>,
        remember: Vec<HeaderField>,
    },
    Challenge(rewho_plugin_api::Response),
    Respond(rewho_plugin_api::Response),
    Deny,
}

/// `GET /_rewho/auth` straight from the connection, before the router: the hot path of every
/// forward-auth proxy, so it skips the router's and the middleware's per-request boxing and
/// logs and counts the request itself, as [`access_log`] does for the other routes.
pub(crate) async fn serve_forward_auth<B>(
    app: &AppState,
    req: Request<B>,
    peer: SocketAddr,
) -> Response<Body> {
    let start = Instant::now();
    let id = app.request_id();
    let (parts, _body) = req.into_parts();
    let span = tracing::info_span!("request", id = %id);
    let (mut r, outcome) = forward_auth_answer(app, &parts, Some(peer))
        .instrument(span.clone())
        .await;
    app.metrics.request("auth", outcome.name());
    span.in_scope(|| log_access(&parts.method, parts.uri.path(), &r, &outcome, start));
    set_request_id(&mut r, id.as_str());
    r
}

/// What forward-auth answers for the request `api` serves: its identifier's response, or
/// the user with the downstream and remember headers, or the challenge. A plain `fn`, since
/// a request may run it twice (inline, then again on a blocking thread).
fn decide(api: &mut Api<'_>) -> Verdict {
    match api.ingress() {
        Ingress::Respond(r) => Verdict::Respond(r),
        Ingress::Continue | Ingress::PassThrough => {
            match api.userid().map(|u| u.to_display_string()) {
                Some(user) => {
                    let edits = api.environ().downstream_edits().to_vec();
                    match api.egress(200, &[]) {
                        Egress::Remember(remember) => Verdict::Allow {
                            user: Some(user),
                            edits,
                            remember,
                        },
                        Egress::Challenge(r) => Verdict::Challenge(r),
                        Egress::NoChallenger => Verdict::Deny,
                    }
                }
                // An anonymous request an authorizer explicitly allowed (`anyone`): the one 2xx
                // without a user (docs/SERVING.md). Only edits marked unconditional go with it.
                None if matches!(api.authorize(), Authz::Allowed { .. }) => Verdict::Allow {
                    user: None,
                    edits: api
                        .environ()
                        .downstream_edits()
                        .iter()
                        .filter(|e| e.always)
                        .cloned()
                        .collect(),
                    remember: Vec::new(),
                },
                None => match api.egress(401, &[]) {
                    Egress::Challenge(r) => Verdict::Challenge(r),
                    Egress::Remember(_) | Egress::NoChallenger => Verdict::Deny,
                },
            }
        }
    }
}

/// The forward-auth answer for one request: 200 with `X-Remote-User`, the plugins'
/// downstream headers and the remember headers; or the challenge (never a 2xx); or a bare
/// 401 when nobody challenges.
///
/// Chains that run inline (CPU-only ones, and I/O ones whose plugins ask before they block)
/// see the request borrowed from `parts`; only a request that must move to a blocking thread
/// is copied, into the [`WhoApi`] that runs it there, as every other edge does.
async fn forward_auth_answer(
    app: &AppState,
    parts: &http::request::Parts,
    peer: Option<SocketAddr>,
) -> (Response<Body>, Outcome) {
    let loaded = app.shared.load();
    let (request, prov) = rebuild(
        parts,
        peer,
        &loaded.trusted,
        loaded.public.as_ref(),
        Rebuild::ForwardAuth,
    );
    let factory = &loaded.factory;
    let inline = factory.run_inline(|| request.with_view(|view| decide(&mut factory.api(view))));
    // The request stays borrowed unless it moves to a blocking thread (then the Api owns it).
    let (verdict, request, moved) = match inline {
        Some(verdict) => (Ok(verdict), Some(request), None),
        None => {
            let api = WhoApi::new(loaded.clone(), Arc::new(request.into_owned()));
            (api.try_run(decide).await, None, Some(api.request()))
        }
    };
    // Without `public_url`, a challenge's Location on the request's own (client-chosen)
    // origin is made relative.
    let origin = || {
        let (scheme, host) = match (&request, &moved) {
            (Some(r), _) => (r.scheme(), r.host()),
            (None, Some(o)) => (o.scheme.as_str(), o.host.as_str()),
            (None, None) => return None,
        };
        (loaded.public.is_none() && !prov.proxy_host).then(|| (scheme.to_owned(), host.to_owned()))
    };
    let Ok(verdict) = verdict else {
        return (
            crate::middleware::timed_out().map(Body::new),
            Outcome::TimedOut,
        );
    };
    match verdict {
        Verdict::Allow {
            user,
            edits,
            remember,
        } => {
            app.shared.guard().learn(&edits);
            let mut r = Response::new(Body::empty());
            let h = r.headers_mut();
            match user.as_deref().map(HeaderValue::from_str) {
                None => {}
                Some(Ok(v)) => {
                    h.insert(HeaderName::from_static(REMOTE_USER_HEADER), v);
                }
                Some(Err(_)) => {
                    tracing::warn!(target: "rewho::edge", "user id is not a valid header value; denying");
                    return (
                        plain(StatusCode::UNAUTHORIZED, "user id cannot be sent\n"),
                        Outcome::NoChallenger,
                    );
                }
            }
            for e in &edits {
                if let Some(v) = e.value.as_ref().into_option() {
                    append_fields(h, &[HeaderField::new(e.name.clone(), v.clone())]);
                }
            }
            append_fields(h, &remember);
            match user {
                Some(user) => (r, Outcome::Authenticated(user)),
                None => (r, Outcome::Anonymous),
            }
        }
        Verdict::Challenge(c) => (deny(c, prov, origin()), Outcome::Challenged),
        Verdict::Respond(c) => (deny(c, prov, origin()), Outcome::Responded),
        Verdict::Deny => (
            plain(StatusCode::UNAUTHORIZED, "Not authenticated.\n"),
            Outcome::Anonymous,
        ),
    }
}

/// A plugin's answer as a forward-auth denial: a 2xx is never sent (it would grant access);
/// for nginx, a redirect becomes 401 + `Location`.
fn deny(
    c: rewho_plugin_api::Response,
    prov: Provenance,
    origin: Option<(String, String)>,
) -> Response<Body> {
    let mut r = Response::new(Body::from(c.body.into_vec()));
    let status = StatusCode::from_u16(c.status).unwrap_or(StatusCode::UNAUTHORIZED);
    let granting = status.is_success() || status.is_informational();
    *r.status_mut() = if granting || (status.is_redirection() && prov.nginx) {
        StatusCode::UNAUTHORIZED
    } else {
        status
    };
    append_fields(r.headers_mut(), c.headers.as_slice());
    if let Some((scheme, host)) = origin {
        relative_location(r.headers_mut(), &scheme, &host);
    }
    r
}

#[derive(Deserialize, Default)]
pub(crate) struct CameFrom {
    #[serde(default)]
    came_from: String,
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    came_from: String,
    #[serde(default)]
    csrf_token: String,
}

#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    #[serde(default)]
    came_from: String,
    #[serde(default)]
    csrf_token: String,
}

/// A form page (login, logout) with its CSRF token: reuses the browser's token cookie, or
/// (with `mint`) sets a new one; never framed (`frame-ancestors 'none'`), never cached.
fn form_page(
    status: StatusCode,
    headers: &http::HeaderMap,
    request: &crate::OwnedRequest,
    mint: bool,
    page: impl FnOnce(&str) -> String,
) -> Response<Body> {
    let (token, fresh) = match csrf::cookie_token(headers) {
        Some(t) => (t, false),
        None if mint => (csrf::new_token(), true),
        None => (String::new(), false),
    };
    let mut r = html(status, page(&token));
    let h = r.headers_mut();
    if fresh {
        let https = request.scheme.eq_ignore_ascii_case("https");
        if let Ok(v) = HeaderValue::from_str(&csrf::set_cookie(&token, https)) {
            h.append(http::header::SET_COOKIE, v);
        }
    }
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    h.insert(
        http::header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    );
    r
}

/// A refused cross-site or token-less form post: logged, and answered 403 with the form
/// again (and a fresh token) so a person can retry.
fn refused_post(
    why: &str,
    headers: &http::HeaderMap,
    request: &crate::OwnedRequest,
    page: impl FnOnce(&str) -> String,
) -> Response<Body> {
    tracing::warn!(
        target: "rewho::login",
        path = %request.path,
        client = %request.client_addr,
        "form post refused: {why}"
    );
    form_page(StatusCode::FORBIDDEN, headers, request, true, page)
}

/// `GET /_rewho/login`: the form.
pub(crate) async fn login_form(
    State(app): State<Arc<AppState>>,
    req: Request<Body>,
) -> Response<Body> {
    let (parts, _) = req.into_parts();
    let came_from = Query::<CameFrom>::try_from_uri(&parts.uri)
        .map(|Query(q)| q.came_from)
        .unwrap_or_default();
    let (api, _) = api_for(&app, &parts, peer_of(&parts.extensions), Rebuild::Direct);
    form_page(StatusCode::OK, &parts.headers, &api.request(), true, |t| {
        pages::login_form(&came_from, None, t)
    })
}

/// `POST /_rewho/login`: [`WhoApi::login`] with the form's credentials. Success: 302 to the
/// safe `came_from` with the remember headers. Failure: the form again (200) with a message
/// and the forget headers.
pub(crate) async fn login_submit(
    State(app): State<Arc<AppState>>,
    req: Request<Body>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let headers_in = parts.headers.clone();
    let (api, _) = api_for(&app, &parts, peer_of(&parts.extensions), Rebuild::Direct);
    let form = match Form::<LoginForm>::from_request(Request::from_parts(parts, body), &()).await {
        Ok(Form(f)) => f,
        Err(e) => {
            return with_outcome(
                plain(StatusCode::BAD_REQUEST, &format!("{e}\n")),
                Outcome::LoginFailed,
            )
        }
    };
    let request = api.request();
    if let Some(why) = csrf::refuse(&headers_in, &request, &form.csrf_token) {
        let r = refused_post(why, &headers_in, &request, |t| {
            pages::login_form(
                &form.came_from,
                Some("The form was sent from another site or has expired; please log in again."),
                t,
            )
        });
        return with_outcome(r, Outcome::LoginFailed);
    }
    let (identity, headers) = if form.login.is_empty() {
        (
            None,
            api.run(|a| a.login(crate::Identity::new(), None).1).await,
        )
    } else {
        api.login_with_password(&form.login, &form.password).await
    };
    match identity.as_ref().and_then(|i| i.userid()) {
        Some(user) => {
            let target = pages::safe_came_from(&form.came_from, &api.request());
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::FOUND;
            if let Ok(v) = HeaderValue::from_str(&target) {
                r.headers_mut().insert(LOCATION, v);
            }
            append_fields(r.headers_mut(), &headers);
            with_outcome(r, Outcome::LoggedIn(user.to_display_string()))
        }
        None => {
            // A browser posting the form has its token cookie already; a script needs none.
            let mut r = form_page(StatusCode::OK, &headers_in, &request, false, |t| {
                pages::login_form(&form.came_from, Some("Invalid login or password."), t)
            });
            append_fields(r.headers_mut(), &headers);
            with_outcome(r, Outcome::LoginFailed)
        }
    }
}

/// `GET /_rewho/logout`: a page with one button that posts the logout (a `GET` changes
/// nothing, so links and images elsewhere cannot log anyone out).
pub(crate) async fn logout_form(
    State(app): State<Arc<AppState>>,
    req: Request<Body>,
) -> Response<Body> {
    let (parts, _) = req.into_parts();
    let came_from = Query::<CameFrom>::try_from_uri(&parts.uri)
        .map(|Query(q)| q.came_from)
        .unwrap_or_default();
    let (api, _) = api_for(&app, &parts, peer_of(&parts.extensions), Rebuild::Direct);
    form_page(StatusCode::OK, &parts.headers, &api.request(), true, |t| {
        pages::logout_form(&came_from, t)
    })
}

/// `POST /_rewho/logout`: every identifier's forget headers and a 302 to the safe
/// `came_from` (default `/`; from the form, or the query string). Cross-site posts are
/// refused like cross-site logins.
pub(crate) async fn logout(State(app): State<Arc<AppState>>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let headers_in = parts.headers.clone();
    let query_came_from = Query::<CameFrom>::try_from_uri(&parts.uri)
        .map(|Query(q)| q.came_from)
        .unwrap_or_default();
    let (api, _) = api_for(&app, &parts, peer_of(&parts.extensions), Rebuild::Direct);
    let form = Form::<LogoutForm>::from_request(Request::from_parts(parts, body), &())
        .await
        .map(|Form(f)| f)
        .unwrap_or(LogoutForm {
            came_from: String::new(),
            csrf_token: String::new(),
        });
    let came_from = if form.came_from.is_empty() {
        query_came_from
    } else {
        form.came_from
    };
    let request = api.request();
    if let Some(why) = csrf::refuse(&headers_in, &request, &form.csrf_token) {
        return refused_post(why, &headers_in, &request, |t| {
            pages::logout_form(&came_from, t)
        });
    }
    let headers = api.logout().await;
    let target = pages::safe_came_from(&came_from, &request);
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(&target) {
        r.headers_mut().insert(LOCATION, v);
    }
    append_fields(r.headers_mut(), &headers);
    with_outcome(r, Outcome::LoggedOut)
}

/// `GET /_rewho/metrics`.
/// `/_rewho/creds/…`: [`crate::creds_http::handle`] on the blocking pool (it reads and writes
/// files), with a body limit and answers that are never cached. 404 unless `[creds] enabled`.
pub(crate) async fn creds(State(app): State<Arc<AppState>>, req: Request<Body>) -> Response<Body> {
    use crate::creds_http::{handle, MAX_BODY, RESPONSE_HEADERS, WWW_AUTHENTICATE};
    let cfg = app.creds.load_full();
    let (parts, body) = req.into_parts();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    // One byte over the limit is enough for `handle` to answer 413.
    let body = match axum::body::to_bytes(body, MAX_BODY + 1).await {
        Ok(b) => b,
        Err(_) => vec![0u8; MAX_BODY + 1].into(),
    };
    let answer =
        tokio::task::spawn_blocking(move || handle(&method, &path, &headers, &body, &cfg)).await;
    let (status, json) = answer.unwrap_or_else(|_| {
        tracing::error!(target: "rewho::creds", "the creds handler panicked");
        (
            500,
            r#"{"message":"internal error","status":false}"#.to_owned(),
        )
    });
    let mut r = Response::new(Body::from(json));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (n, v) in RESPONSE_HEADERS {
        r.headers_mut()
            .insert(HeaderName::from_static(n), HeaderValue::from_static(v));
    }
    if status == 401 {
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(WWW_AUTHENTICATE),
        );
    }
    r
}

pub(crate) async fn metrics(
    State(app): State<Arc<AppState>>,
    req: Request<Body>,
) -> Response<Body> {
    if !app
        .metrics_access
        .load()
        .allows(super::peer_ip(req.extensions()))
    {
        let mut r = Response::new(Body::from(
            "metrics are served to loopback and [general] trusted_proxies only \
             (see [general] metrics_allow)\n",
        ));
        *r.status_mut() = http::StatusCode::FORBIDDEN;
        return r;
    }
    let mut r = Response::new(Body::from(app.metrics.render()));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

fn endpoint_of(path: &str) -> &'static str {
    match path {
        "/_rewho/auth" => "auth",
        "/_rewho/login" => "login",
        "/_rewho/logout" => "logout",
        "/_rewho/metrics" => "metrics",
        _ => "app",
    }
}

/// One log line per request, with a request id (also sent back as `X-Request-Id`), the
/// chain outcome and the user; never a query string, cookie or credential.
pub(crate) async fn access_log(
    State(app): State<Arc<AppState>>,
    req: Request<Body>,
    next: Next,
) -> Response<Body> {
    let id = app.request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", id = %id);
    let start = Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    let none = Outcome::Unknown;
    let outcome = resp.extensions().get::<Outcome>().unwrap_or(&none);
    app.metrics.request(endpoint_of(&path), outcome.name());
    span.in_scope(|| log_access(&method, &path, &resp, outcome, start));
    set_request_id(&mut resp, id.as_str());
    resp
}

/// The access log line of one request.
fn log_access(
    method: &http::Method,
    path: &str,
    resp: &Response<Body>,
    outcome: &Outcome,
    start: Instant,
) {
    tracing::info!(
        target: "rewho::access",
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        outcome = outcome.name(),
        user = outcome.user().unwrap_or("-"),
        micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
}

fn set_request_id(resp: &mut Response<Body>, id: &str) {
    if let Ok(v) = HeaderValue::from_bytes(id.as_bytes()) {
        resp.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
}

impl Outcome {
    fn name(&self) -> &'static str {
        match self {
            Outcome::Authenticated(_) => "authenticated",
            Outcome::Anonymous => "anonymous",
            Outcome::Challenged => "challenged",
            Outcome::Responded => "responded",
            Outcome::NoChallenger => "no_challenger",
            Outcome::LoggedIn(_) => "login_ok",
            Outcome::LoginFailed => "login_failed",
            Outcome::TimedOut => "timed_out",
            Outcome::LoggedOut => "logout",
            Outcome::Unknown => "none",
        }
    }

    fn user(&self) -> Option<&str> {
        match self {
            Outcome::Authenticated(u) | Outcome::LoggedIn(u) => Some(u),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::metrics::{ENDPOINTS, OUTCOMES};

    #[test]
    fn every_outcome_and_endpoint_has_a_lock_free_counter() {
        let all = [
            Outcome::Authenticated("u".into()),
            Outcome::Anonymous,
            Outcome::Challenged,
            Outcome::Responded,
            Outcome::NoChallenger,
            Outcome::LoggedIn("u".into()),
            Outcome::LoginFailed,
            Outcome::LoggedOut,
            Outcome::TimedOut,
            Outcome::Unknown,
        ];
        for o in &all {
            assert!(OUTCOMES.contains(&o.name()), "{o:?}");
        }
        for path in [
            "/_rewho/auth",
            "/_rewho/login",
            "/_rewho/logout",
            "/_rewho/metrics",
            "/x",
        ] {
            assert!(ENDPOINTS.contains(&endpoint_of(path)), "{path}");
        }
    }
}
