//! `oidc`: OpenID Connect login against one identity provider per `[plugin:ID]` section —
//! the authorization code flow with PKCE (S256), the `state` and `nonce` bound to the browser
//! by a short-lived signed cookie, and the ID token verified with the `jwt` plugin's code
//! (`rewho-jwt-verify`): signature against the provider's JWKS (refetched when a token names
//! an unknown key), `iss`, `aud`, `exp` with a small leeway, `nonce`.
//!
//! ```ini
//! [plugin:corp]
//! use = oidc
//! issuer = https://login.example.com/realms/corp
//! client_id = rewho
//! client_secret_file = %(here)s/corp.client-secret
//! secret = a-long-random-string-for-the-state-cookie
//! rememberer_name = auth_tkt
//!
//! [identifiers]
//! plugins = corp auth_tkt attributes groups
//! [authenticators]
//! plugins = corp auth_tkt
//! [challengers]
//! plugins = corp
//! [mdproviders]
//! plugins = attributes groups
//! ```
//!
//! # Paths (per section, `<id>` is the section's id)
//! - `/_rewho/oidc/<id>/callback`: the redirect URI to register at the provider. The plugin
//!   answers every request to it itself: a redirect to the page the user first asked for,
//!   with the rememberer's cookie, or a 403/502 page when the login is refused.
//! - `/_rewho/oidc/<id>/login?came_from=/path`: starts a login at this provider (for a page
//!   that offers several). `came_from` must be a path on this site, else `/`.
//!
//! # Options
//! | option | default | meaning |
//! | --- | --- | --- |
//! | `issuer` | required | the provider's issuer URL; discovery reads `<issuer>/.well-known/openid-configuration` |
//! | `client_id` | required | |
//! | `client_secret` / `client_secret_file` | one required | the client secret (a file's trailing newline is dropped) |
//! | `token_endpoint_auth_method` | `client_secret_basic` | or `client_secret_post` |
//! | `secret` / `secretfile` | one required | HMAC key of the state cookie, at least 16 bytes |
//! | `rememberer_name` | required | the identifier that remembers the user after the callback; its `remember` must set a cookie for a bare user id, as `auth_tkt` does |
//! | `redirect_uri` | from the request | the absolute callback URL to send; its path replaces the default callback path |
//! | `scope` | `openid email profile` | must include `openid` |
//! | `userid_claim` | `sub` | claim naming the user |
//! | `groups_claim` | `groups` | claim copied to the identity key `groups` (a list of strings) |
//! | `attributes_name` | `attributes` | identity key of the other claims (a map) |
//! | `algorithms` | `RS256 RS384 RS512 ES256` | accepted ID token algorithms (HS* is refused) |
//! | `leeway` | `30` | seconds of clock skew for `exp`/`nbf` |
//! | `timeout` | `2` | seconds for each call to the provider (connect to last byte) |
//! | `state_ttl` | `600` | seconds a login may take between challenge and callback |
//! | `metadata_ttl` | `3600` | seconds discovery is cached |
//! | `jwks_min_refresh` | `30` | at most one JWKS refetch per this many seconds on an unknown `kid` |
//! | `cookie_name` | `rewho_oidc_<id>` | the state cookie |
//!
//! # Remembering, and claims after the login
//! The callback request authenticates the user (this plugin is its own authenticator, and
//! accepts only identities it verified in the same request), so metadata providers see the
//! claims: a `metadata_cache` named `attributes` (and one named `groups`) captures them and
//! replays them on later requests that carry only the rememberer's cookie.
//!
//! # Failures
//! A wrong or missing `state`, an expired state cookie, a replayed callback, an error from
//! the provider, a refused code, a token that fails any check, or a provider that does not
//! answer within `timeout`: the callback answers 403 (502 when the provider failed), logs one
//! warning line saying which, and nobody is authenticated. Codes and tokens are never logged.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod claims;
pub mod provider;
pub mod state;
pub mod url;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rewho_jwt_verify::{Algorithm, Rejected};
use rewho_plugin_api::{
    Authenticator, Challenger, Environ, FactoryContext, HeaderField, Host, Identifier, Identity,
    Plugin, PluginError, PluginHandle, Request, Response, Value, USERID_KEY,
};
use serde::Deserialize;

use crate::provider::{Checks, Client, ClientAuth, Idp, IdpError};
use crate::state::{Binder, Pending};

/// The identity key naming the `oidc` section that verified the identity.
pub const SOURCE_KEY: &str = "rewho.oidc";
/// The identity key holding the verified user id.
pub const USER_KEY: &str = "rewho.oidc.userid";
/// The identity key the groups claim goes to.
pub const GROUPS_KEY: &str = "groups";

/// Options of `[plugin:ID] use = oidc`; see the crate docs for each.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    client_secret_file: Option<String>,
    #[serde(default = "default_auth_method")]
    token_endpoint_auth_method: String,
    secret: Option<String>,
    secretfile: Option<String>,
    rememberer_name: String,
    redirect_uri: Option<String>,
    #[serde(default = "default_scope")]
    scope: Vec<String>,
    #[serde(default = "default_userid_claim")]
    userid_claim: String,
    #[serde(default = "default_groups_claim")]
    groups_claim: String,
    #[serde(default = "default_attributes_name")]
    attributes_name: String,
    #[serde(default = "default_algorithms")]
    algorithms: Vec<String>,
    #[serde(default = "default_leeway")]
    leeway: u32,
    #[serde(default = "default_timeout")]
    timeout: f64,
    #[serde(default = "default_state_ttl")]
    state_ttl: u32,
    #[serde(default = "default_metadata_ttl")]
    metadata_ttl: u32,
    #[serde(default = "default_jwks_min_refresh")]
    jwks_min_refresh: u32,
    cookie_name: Option<String>,
}

fn default_auth_method() -> String {
    "client_secret_basic".into()
}
fn default_scope() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}
fn default_userid_claim() -> String {
    "sub".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_attributes_name() -> String {
    "attributes".into()
}
fn default_algorithms() -> Vec<String> {
    ["RS256", "RS384", "RS512", "ES256"]
        .map(String::from)
        .to_vec()
}
fn default_leeway() -> u32 {
    30
}
fn default_timeout() -> f64 {
    2.0
}
fn default_state_ttl() -> u32 {
    600
}
fn default_metadata_ttl() -> u32 {
    3600
}
fn default_jwks_min_refresh() -> u32 {
    30
}

/// Most callbacks remembered as used (their states), to refuse replays.
const MAX_USED_STATES: usize = 100_000;

/// The `oidc` plugin. `Debug` is not derived: it holds secrets.
pub struct Oidc {
    id: String,
    host: Host,
    idp: Idp,
    client: Client,
    binder: Binder,
    rememberer: PluginHandle,
    redirect_uri: Option<String>,
    callback_path: String,
    login_path: String,
    scope: String,
    userid_claim: String,
    groups_claim: String,
    attributes_name: String,
    state_ttl: i64,
    cookie_name: String,
    /// The environ key marking an identity this plugin verified in this request.
    verified_key: String,
    /// States of callbacks already handled, with their expiry: a replay is refused here
    /// before the provider refuses the code.
    used: Mutex<HashMap<String, i64>>,
}

fn read_secret(ctx: &FactoryContext<'_>, option: &str, file: &str) -> Result<String, PluginError> {
    let path = ctx.resolve_path(file);
    std::fs::read_to_string(&path)
        .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
        .map_err(|e| {
            PluginError(format!(
                "option `{option}`: cannot read {}: {e}",
                path.display()
            ))
        })
}

fn one_of(
    ctx: &FactoryContext<'_>,
    (name, value): (&str, Option<String>),
    (file_name, file): (&str, Option<String>),
) -> Result<String, PluginError> {
    let s = match (value, file) {
        (Some(s), None) => s,
        (None, Some(f)) => read_secret(ctx, file_name, &f)?,
        (Some(_), Some(_)) => {
            return Err(PluginError(format!(
                "set either `{name}` or `{file_name}`, not both"
            )))
        }
        (None, None) => {
            return Err(PluginError(format!(
                "`{name}` or `{file_name}` is required"
            )))
        }
    };
    if s.is_empty() {
        return Err(PluginError(format!("option `{name}`/`{file_name}`: empty")));
    }
    Ok(s)
}

fn http_url(option: &str, value: &str) -> Result<(), PluginError> {
    let lower = value.to_ascii_lowercase();
    if lower.starts_with("https://") {
        if !cfg!(feature = "https") {
            return Err(PluginError(format!(
                "option `{option}`: this build has no TLS client (build rewho-plugin-oidc with \
                 its default `https` feature)"
            )));
        }
        return Ok(());
    }
    if lower.starts_with("http://") {
        return Ok(());
    }
    Err(PluginError(format!(
        "option `{option}`: `{value}` is not an http(s) URL"
    )))
}

/// The path of an absolute URL (`/` when it has none).
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    path.split(['?', '#']).next().unwrap_or("/")
}

impl Plugin for Oidc {
    type Options = Options;
    const SUMMARY: &'static str =
        "OpenID Connect login (code flow + PKCE) with one identity provider";
    const DOES_IO: bool = true;
    const ASKS_BEFORE_BLOCKING: bool = true;

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        let id = ctx.plugin_id().to_owned();
        http_url("issuer", &o.issuer)?;
        if o.client_id.is_empty() {
            return Err("option `client_id`: empty".into());
        }
        let client_secret = one_of(
            ctx,
            ("client_secret", o.client_secret),
            ("client_secret_file", o.client_secret_file),
        )?;
        let secret = one_of(ctx, ("secret", o.secret), ("secretfile", o.secretfile))?;
        if secret.len() < 16 {
            return Err("option `secret`: at least 16 bytes (it signs the state cookie)".into());
        }
        let auth = match o.token_endpoint_auth_method.as_str() {
            "client_secret_basic" => ClientAuth::Basic,
            "client_secret_post" => ClientAuth::Post,
            other => {
                return Err(PluginError(format!(
                    "option `token_endpoint_auth_method`: `{other}` (supported: \
                     client_secret_basic client_secret_post)"
                )))
            }
        };
        if !o.scope.iter().any(|s| s == "openid") {
            return Err("option `scope`: must include `openid`".into());
        }
        let mut algorithms = Vec::new();
        for name in &o.algorithms {
            let alg = Algorithm::parse(name).ok_or_else(|| {
                PluginError(format!(
                    "option `algorithms`: unknown algorithm `{name}` (supported: RS256 RS384 \
                     RS512 ES256)"
                ))
            })?;
            if alg.is_hmac() {
                return Err(PluginError(format!(
                    "option `algorithms`: {name} (signed with the client secret) is not \
                     supported for ID tokens"
                )));
            }
            algorithms.push(alg);
        }
        if algorithms.is_empty() {
            return Err("option `algorithms`: empty".into());
        }
        if o.timeout <= 0.0 || !o.timeout.is_finite() || o.timeout > 60.0 {
            return Err("option `timeout`: seconds, more than 0 and at most 60".into());
        }
        for (name, v) in [
            ("userid_claim", &o.userid_claim),
            ("groups_claim", &o.groups_claim),
            ("attributes_name", &o.attributes_name),
        ] {
            if v.is_empty() {
                return Err(PluginError(format!("option `{name}`: empty")));
            }
        }
        if o.state_ttl == 0 {
            return Err("option `state_ttl`: at least 1 second".into());
        }
        let callback_path = match &o.redirect_uri {
            Some(uri) => {
                http_url("redirect_uri", uri)?;
                path_of(uri).to_owned()
            }
            None => format!("/_rewho/oidc/{id}/callback"),
        };
        let cookie_name = o.cookie_name.unwrap_or_else(|| {
            let safe: String = id
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("rewho_oidc_{safe}")
        });
        if cookie_name.is_empty()
            || !cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            return Err("option `cookie_name`: letters, digits, `_`, `-` and `.` only".into());
        }
        let host = ctx.host();
        let rememberer = host.plugin(&o.rememberer_name).ok_or_else(|| {
            PluginError(format!(
                "option `rememberer_name`: no plugin `{}` (add a [plugin:{}] section)",
                o.rememberer_name, o.rememberer_name
            ))
        })?;
        if !rememberer.is_identifier() {
            return Err(PluginError(format!(
                "option `rememberer_name`: plugin `{}` is not an identifier",
                o.rememberer_name
            )));
        }
        let issuer = o.issuer.clone();
        Ok(Oidc {
            idp: Idp::new(
                issuer,
                o.client_id.clone(),
                Duration::from_secs_f64(o.timeout),
                Duration::from_secs(o.metadata_ttl.into()),
                Duration::from_secs(o.jwks_min_refresh.into()),
                Checks {
                    algorithms,
                    leeway: i64::from(o.leeway),
                },
            ),
            client: Client {
                id: o.client_id,
                secret: client_secret,
                auth,
            },
            binder: Binder::new(secret.as_bytes(), &id),
            rememberer,
            redirect_uri: o.redirect_uri,
            login_path: format!("/_rewho/oidc/{id}/login"),
            callback_path,
            scope: o.scope.join(" "),
            userid_claim: o.userid_claim,
            groups_claim: o.groups_claim,
            attributes_name: o.attributes_name,
            state_ttl: i64::from(o.state_ttl),
            cookie_name,
            verified_key: format!("rewho.oidc.{id}.verified"),
            used: Mutex::new(HashMap::new()),
            host,
            id,
        })
    }
}

/// Why a callback was refused, and with what status.
struct Refusal {
    status: u16,
    why: String,
}

impl Refusal {
    fn forbidden(why: impl std::fmt::Display) -> Self {
        Refusal {
            status: 403,
            why: why.to_string(),
        }
    }
    fn idp(e: IdpError) -> Self {
        let status = if matches!(e, IdpError::Refused { .. }) {
            403
        } else {
            502
        };
        Refusal {
            status,
            why: e.to_string(),
        }
    }
}

/// Asked to stop because the host is trying the request inline (see `Host::may_block`).
fn yield_to_host() -> PluginError {
    PluginError::new("needs the network: the host runs this request on a blocking thread")
}

impl Oidc {
    fn redirect_uri(&self, req: &Request<'_>) -> String {
        match &self.redirect_uri {
            Some(u) => u.clone(),
            None => format!("{}://{}{}", req.scheme(), req.host(), self.callback_path),
        }
    }

    fn cookie(&self, req: &Request<'_>, value: &str, max_age: i64) -> HeaderField {
        let secure = if req.scheme().eq_ignore_ascii_case("https") {
            "; Secure"
        } else {
            ""
        };
        HeaderField::new(
            "Set-Cookie",
            format!(
                "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
                self.cookie_name
            ),
        )
    }

    /// The redirect to the provider that starts a login returning to `came_from` (a 502 page
    /// when the provider cannot be reached).
    fn start_login(&self, req: &Request<'_>, came_from: &str) -> Result<Response, PluginError> {
        let metadata = match self.idp.cached_metadata() {
            Some(m) => m,
            None if !self.host.may_block() => return Err(yield_to_host()),
            None => match self.idp.metadata() {
                Ok(m) => m,
                Err(e) => {
                    // An outage degrades to an error page, never to an anonymous pass.
                    let refusal = Refusal::idp(e);
                    self.host
                        .warn(&format!("OIDC login cannot start: {}", refusal.why));
                    return Ok(self.refusal_page(req, &refusal));
                }
            },
        };
        let came_from = if url::is_local_path(came_from)
            && !came_from.starts_with(&self.callback_path)
            && !came_from.starts_with(&self.login_path)
        {
            came_from
        } else {
            "/"
        };
        let now = self.host.now_secs();
        let pending = self.binder.start(came_from, now + self.state_ttl);
        let location = url::with_query(
            &metadata.authorization_endpoint,
            &[
                ("response_type", "code"),
                ("client_id", &self.client.id),
                ("redirect_uri", &self.redirect_uri(req)),
                ("scope", &self.scope),
                ("state", &pending.state),
                ("nonce", &self.binder.nonce(&pending.state)),
                (
                    "code_challenge",
                    &self.binder.code_challenge(&pending.state),
                ),
                ("code_challenge_method", "S256"),
            ],
        );
        let cookie = self.cookie(req, &self.binder.seal(&pending), self.state_ttl);
        Ok(Response::new(302)
            .with_header("Location", location)
            .with_header("Cache-Control", "no-store")
            .with_header(cookie.name, cookie.value))
    }

    /// Records `state` as used; `false` when it was used before.
    fn first_use(&self, state: &str, expires: i64, now: i64) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.len() >= MAX_USED_STATES {
            used.retain(|_, exp| *exp > now);
            if used.len() >= MAX_USED_STATES {
                used.clear();
            }
        }
        used.insert(state.to_owned(), expires).is_none()
    }

    /// Verifies the ID token, refetching the JWKS once when it names an unknown key.
    fn verify(&self, token: &str, pending: &Pending) -> Result<rewho_plugin_api::Map, Refusal> {
        let now = self.host.now_secs();
        let verifier = self
            .idp
            .verifier(false)
            .map_err(Refusal::idp)?
            .ok_or_else(|| Refusal::forbidden("no signing keys"))?;
        let claims = match verifier.verify(token, now) {
            Err(Rejected::NoKey) => match self.idp.verifier(true).map_err(Refusal::idp)? {
                Some(fresh) => {
                    self.host
                        .info("ID token names a key not in the cached JWKS: refetched the JWKS");
                    fresh.verify(token, now)
                }
                None => Err(Rejected::NoKey),
            },
            other => other,
        }
        .map_err(|e| Refusal::forbidden(format!("ID token rejected: {e}")))?;
        claims::check(&claims, &self.binder.nonce(&pending.state), &self.client.id)
            .map_err(|e| Refusal::forbidden(format!("ID token rejected: {e}")))?;
        Ok(claims)
    }

    /// The callback: checks, exchange, verification; the identity and the response.
    fn callback(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        pending: &Pending,
    ) -> Result<(Identity, Vec<HeaderField>), Refusal> {
        let query = req.query();
        let given_state = url::query_param(query, "state").unwrap_or_default();
        if !rewho_plugin_api::constant_time_eq(given_state.as_bytes(), pending.state.as_bytes()) {
            return Err(Refusal::forbidden(
                "state does not match this browser's login",
            ));
        }
        if let Some(error) = url::query_param(query, "error") {
            let error: String = error.chars().take(64).collect();
            return Err(Refusal::forbidden(format!(
                "the provider answered error `{error}`"
            )));
        }
        if let Some(iss) = url::query_param(query, "iss") {
            if iss != self.idp.issuer() {
                return Err(Refusal::forbidden("the callback's iss is another issuer"));
            }
        }
        let code = url::query_param(query, "code")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Refusal::forbidden("no code in the callback"))?;
        let now = self.host.now_secs();
        if !self.first_use(&pending.state, pending.expires, now) {
            return Err(Refusal::forbidden(
                "callback replayed (this login's code was already used)",
            ));
        }
        let token = self
            .idp
            .exchange(
                &self.client,
                &code,
                &self.redirect_uri(req),
                &self.binder.code_verifier(&pending.state),
            )
            .map_err(Refusal::idp)?;
        let claims = self.verify(&token, pending)?;
        let mapped = claims::map(&claims, &self.userid_claim, &self.groups_claim)
            .map_err(|e| Refusal::forbidden(format!("ID token rejected: {e}")))?;
        let mut identity = Identity::new();
        identity.insert(USERID_KEY, mapped.userid.clone());
        identity.insert(USER_KEY, mapped.userid.clone());
        identity.insert(SOURCE_KEY, self.id.as_str());
        if let Some(groups) = mapped.groups {
            identity.insert(GROUPS_KEY, groups);
        }
        identity.insert(&self.attributes_name, mapped.attributes);
        env.set(&self.verified_key, mapped.userid);
        let remember = self
            .rememberer
            .remember(req, env, &identity)
            .map_err(|e| Refusal {
                status: 500,
                why: format!("the rememberer failed: {e}"),
            })?;
        Ok((identity, remember))
    }

    fn refusal_page(&self, req: &Request<'_>, r: &Refusal) -> Response {
        let (title, text) = if r.status == 502 {
            (
                "Login unavailable",
                "The identity provider could not be reached. Try again later.",
            )
        } else {
            ("Login failed", "The login could not be completed.")
        };
        let clear = self.cookie(req, "", 0);
        Response::new(r.status)
            .with_header("Content-Type", "text/html; charset=utf-8")
            .with_header("Cache-Control", "no-store")
            .with_header(clear.name, clear.value)
            .with_body(format!(
                "<!DOCTYPE html>\n<html><head><title>{title}</title></head><body><h1>{title}</h1>\
                 <p>{text}</p><p><a href=\"{}\">Try again</a></p></body></html>\n",
                self.login_path
            ))
    }
}

// IIdentifier
impl Identifier for Oidc {
    fn identify(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
    ) -> Result<Option<Identity>, PluginError> {
        let path = req.path();
        if path == self.login_path {
            let came_from = url::query_param(req.query(), "came_from").unwrap_or_default();
            let response = self.start_login(req, &came_from)?;
            env.replace_response(response);
            return Ok(None);
        }
        if path != self.callback_path {
            return Ok(None);
        }
        // Everything below may call the provider: on an inline attempt, hand over first.
        if !self.host.may_block() {
            return Err(yield_to_host());
        }
        let now = self.host.now_secs();
        let opened = match req.cookie(&self.cookie_name) {
            None => Err(Refusal::forbidden(
                "no state cookie (the login expired, or began in another browser)",
            )),
            Some(c) => self
                .binder
                .open(c, now)
                .map_err(|e| Refusal::forbidden(e.to_string())),
        };
        let result = opened.and_then(|pending| {
            self.callback(req, env, &pending)
                .map(|(identity, remember)| (identity, remember, pending))
        });
        match result {
            Ok((identity, remember, pending)) => {
                let user = identity.get(USER_KEY).map(Value::to_display_string);
                self.host.info(&format!(
                    "OIDC login accepted for `{}`",
                    user.unwrap_or_default()
                ));
                // (A browser already holding the same ticket gets none again: only warn when
                // it brought no cookie but ours.)
                let prefix = format!("{}=", self.cookie_name);
                let only_ours = req
                    .header("cookie")
                    .unwrap_or_default()
                    .split(';')
                    .all(|c| c.trim().is_empty() || c.trim().starts_with(&prefix));
                if remember.is_empty() && only_ours {
                    self.host.warn(
                        "the rememberer set no cookie: the user is not remembered after this \
                         request (use auth_tkt as rememberer_name)",
                    );
                }
                let clear = self.cookie(req, "", 0);
                let mut response = Response::new(302)
                    .with_header("Location", pending.came_from.as_str())
                    .with_header("Cache-Control", "no-store")
                    .with_header(clear.name, clear.value);
                response.headers.extend(remember);
                env.replace_response(response);
                Ok(Some(identity))
            }
            Err(refusal) => {
                self.host
                    .warn(&format!("OIDC login refused: {}", refusal.why));
                env.replace_response(self.refusal_page(req, &refusal));
                Ok(None)
            }
        }
    }

    fn remember(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        self.rememberer.remember(req, env, identity)
    }

    fn forget(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        self.rememberer.forget(req, env, identity)
    }
}

// IAuthenticator: only identities this section verified in this very request.
impl Authenticator for Oidc {
    fn authenticate(
        &self,
        _req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        if identity.get_str(SOURCE_KEY) != Some(self.id.as_str()) {
            return Ok(None);
        }
        match (identity.get(USER_KEY), env.get(&self.verified_key)) {
            (Some(user), Some(verified)) if user == verified => Ok(Some(user.clone())),
            _ => Ok(None),
        }
    }
}

// IChallenger
impl Challenger for Oidc {
    fn challenge(
        &self,
        req: &Request<'_>,
        _env: &mut Environ,
        _status: u16,
        _app_headers: &[HeaderField],
        forget_headers: &[HeaderField],
    ) -> Result<Option<Response>, PluginError> {
        let mut came_from = req.path().to_owned();
        if !req.query().is_empty() {
            came_from.push('?');
            came_from.push_str(req.query());
        }
        let mut response = self.start_login(req, &came_from)?;
        response.headers.extend(forget_headers.iter().cloned());
        Ok(Some(response))
    }
}

rewho_plugin_api::export_plugin! {
    "oidc" => Oidc: [identifier, authenticator, challenger],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_of_urls() {
        assert_eq!(path_of("https://app.example/cb?x=1"), "/cb");
        assert_eq!(path_of("https://app.example"), "/");
        assert_eq!(
            path_of("http://h:8080/_rewho/oidc/a/callback#f"),
            "/_rewho/oidc/a/callback"
        );
    }
}
