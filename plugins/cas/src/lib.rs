//! `cas`: single sign-on through a CAS server, with the options of repoze.who's
//! `repoze.who.plugins.cas.main_plugin:make_plugin` (that dotted name maps here).
//!
//! ```ini
//! [plugin:casauth]
//! use = cas
//! cas_url = https://cas.example.org/cas/
//! cas_version = 3.0
//! attributes_name = attributes
//! rememberer_name = auth_tkt
//! ```
//!
//! | option | default | meaning |
//! | --- | --- | --- |
//! | `cas_url` | — | the CAS server's base URL; `login`, `logout` and the validation endpoint are appended |
//! | `cas_version` | `1.0` | `1.0` (`validate`), `2.0` (`serviceValidate`), `3.0` (`p3/serviceValidate`) |
//! | `rememberer_name` | — | the identifier that remembers the user after the ticket (auth_tkt) |
//! | `attributes_name` | none | identity key for the attributes released at validation (2.0/3.0) |
//! | `path_logout` | none | regular expressions, one a line, matched at the start of the full URL: log out |
//! | `path_toskip` | none | regular expressions, one a line: never look for a ticket there |
//! | `timeout_ms` | `5000` | rewho's own: bound on the whole validation request |
//! | `debug` | — | accepted for compatibility; use `REWHO_LOG=rewho::plugin=debug` |
//!
//! # The ticket flow
//! 1. **challenge**: a 302 to `<cas_url>login?service=<this URL>` (the URL without any
//!    `ticket` parameter), with the forget headers.
//! 2. **identify** on a `GET` carrying `ticket=`: the ticket is validated server-side with
//!    the same service URL. On success the identity is `{login, <attributes_name>}` and the
//!    response is replaced by a 302 to the clean URL, so the ticket never reaches the
//!    application or the browser's history.
//! 3. **authenticate** accepts only an identity this plugin validated in this request and
//!    adds the rememberer's `Set-Cookie` headers to that 302: the browser lands on the clean
//!    URL with its auth_tkt cookie. A `metadata_cache` whose `name` is `attributes_name`
//!    captures the attributes on this request and replays them on the cookie-only ones.
//!
//! A refused ticket (invalid, replayed, issued for another service) or an unreachable
//! server gives no identity and one warning line; the challenge then answers 403 (refused)
//! or 502 (unreachable) with a link to try again, rather than a redirect that could loop.
//!
//! # Where rewho differs from repoze.who.plugins.cas, on purpose
//! - The user is redirected to the URL without the ticket (the Python plugin passes the
//!   ticket URL on to the application).
//! - `authenticate` accepts only identities this plugin validated in this request (the
//!   Python plugin accepts any identity with a `login`, including a login form's with any
//!   password).
//! - An attribute that appears several times is a list (the Python plugin keeps the last).
//! - A logout path answers at once with the redirect to `<cas_url>logout` and the forget
//!   headers (the Python plugin needs its own challenge decider for that), and CAS is asked
//!   to send the user back to the site's root rather than to the logout URL.
//! - CAS single logout (the server's back-channel `logoutRequest` POST) is not acted on:
//!   rewho's plugin ABI gives plugins no request body, so it is treated like any POST.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod client;
pub mod service;
pub mod validate;

use std::time::Duration;

use regex::Regex;
use rewho_plugin_api::{
    Authenticator, Challenger, Environ, FactoryContext, HeaderField, Host, Identifier, Identity,
    Map, Plugin, PluginError, PluginHandle, Request, Response, Value, USERID_KEY,
};
use serde::Deserialize;

use client::{Client, FetchError};
use service::Version;
use validate::{AttrValue, Refusal};

/// Options of the `cas` plugin (`[plugin:ID]` keys), named as repoze.who.plugins.cas names
/// them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    cas_url: String,
    #[serde(default = "default_version")]
    cas_version: String,
    rememberer_name: String,
    attributes_name: Option<String>,
    path_logout: Option<String>,
    path_toskip: Option<String>,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    /// Accepted and ignored, as rewho's log filter does this job.
    #[allow(dead_code)]
    debug: Option<String>,
}

fn default_version() -> String {
    "1.0".into()
}
fn default_timeout_ms() -> u64 {
    5000
}

/// The identity key that marks identities this plugin made (with the login it validated).
const MARK_KEY: &str = "repoze.who.plugins.cas.login";

/// The `cas` plugin: identifier, authenticator and challenger.
pub struct Cas {
    base: String,
    version: Version,
    attributes_name: Option<String>,
    rememberer_name: String,
    rememberer: PluginHandle,
    path_logout: Vec<Regex>,
    path_toskip: Vec<Regex>,
    client: Client,
    host: Host,
    /// Environ key: the login validated in this request.
    env_login: String,
    /// Environ key: why a ticket of this request gave no user (`refused`, `unavailable`).
    env_failed: String,
}

/// Compiles a newline-separated list of regular expressions, each anchored at the start of
/// the URL as Python's `re.match` is.
fn compile_paths(option: &str, text: Option<&str>) -> Result<Vec<Regex>, PluginError> {
    text.unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            Regex::new(&format!("^(?:{l})"))
                .map_err(|e| PluginError::new(format!("option `{option}`: `{l}`: {e}")))
        })
        .collect()
}

impl Plugin for Cas {
    type Options = Options;
    const SUMMARY: &'static str =
        "CAS single sign-on: redirects to the CAS login, validates tickets, releases attributes";
    const DOES_IO: bool = true;
    /// Only a ticket request blocks (on the CAS server): cookie-only requests stay inline.
    const ASKS_BEFORE_BLOCKING: bool = true;

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        let host = ctx.host();
        let lower = o.cas_url.trim().to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(PluginError::new(
                "option `cas_url`: must be an http:// or https:// URL (the CAS server's base, \
                 e.g. https://cas.example.org/cas/)",
            ));
        }
        if lower.starts_with("https://") && !cfg!(feature = "https") {
            return Err(PluginError::new(
                "option `cas_url`: https:// needs rewho-plugin-cas built with its `https` \
                 feature (on by default)",
            ));
        }
        if o.cas_url.contains(['?', '#']) || o.cas_url.trim() != o.cas_url {
            return Err(PluginError::new(
                "option `cas_url`: no query, fragment or spaces; give the base URL only",
            ));
        }
        let version = Version::parse(&o.cas_version).ok_or_else(|| {
            PluginError::new(format!(
                "option `cas_version`: `{}` is not 1.0, 2.0 or 3.0",
                o.cas_version
            ))
        })?;
        let attributes_name = o.attributes_name.filter(|a| !a.trim().is_empty());
        if attributes_name.is_some() && version == Version::V1 {
            host.warn(
                "option `attributes_name`: CAS 1.0 releases no attributes; set cas_version = \
                 2.0 or 3.0 to receive them",
            );
        }
        if o.timeout_ms == 0 || o.timeout_ms > 60_000 {
            return Err(PluginError::new(
                "option `timeout_ms`: between 1 and 60000 milliseconds",
            ));
        }
        let rememberer = host.plugin(&o.rememberer_name).ok_or_else(|| {
            PluginError::new(format!(
                "option `rememberer_name`: no plugin `{0}` (add a [plugin:{0}] section)",
                o.rememberer_name
            ))
        })?;
        if !rememberer.is_identifier() {
            return Err(PluginError::new(format!(
                "option `rememberer_name`: plugin `{}` is not an identifier, so it cannot \
                 remember users",
                o.rememberer_name
            )));
        }
        let id = ctx.plugin_id();
        Ok(Cas {
            base: service::base(&o.cas_url),
            version,
            attributes_name,
            rememberer_name: o.rememberer_name,
            rememberer,
            path_logout: compile_paths("path_logout", o.path_logout.as_deref())?,
            path_toskip: compile_paths("path_toskip", o.path_toskip.as_deref())?,
            client: Client::new(Duration::from_millis(o.timeout_ms)),
            host,
            env_login: format!("rewho.cas.{id}.login"),
            env_failed: format!("rewho.cas.{id}.failed"),
        })
    }
}

/// The request's URL without its query, for log lines (queries are never logged).
fn shown(req: &Request<'_>) -> String {
    service::service_url(req.scheme(), req.host(), req.path(), "")
}

impl Cas {
    /// The service URL of `req`: its URL with every `ticket` parameter removed.
    fn service_of(&self, req: &Request<'_>) -> String {
        let split = service::split_ticket(req.query());
        service::service_url(req.scheme(), req.host(), req.path(), &split.rest)
    }

    /// Validates `ticket` for `service`: the user and attributes, or a logged refusal.
    fn validate(
        &self,
        req: &Request<'_>,
        ticket: &str,
        service: &str,
    ) -> Result<validate::Success, &'static str> {
        let url = service::validate_url(&self.base, self.version, service, ticket);
        let body = match self.client.get(&url) {
            Ok(body) => body,
            Err(e) => {
                let kind = match e {
                    FetchError::Unreachable(_) | FetchError::Status(_) => "unavailable",
                };
                self.host.warn(&format!(
                    "CAS ticket for {} not validated: {e} ({}{}); no identity",
                    shown(req),
                    self.base,
                    self.version.endpoint()
                ));
                return Err(kind);
            }
        };
        validate::parse(self.version, &body).map_err(|refusal| {
            // Servers quote the ticket in their messages: keep it out of the log.
            let why = refusal.to_string().replace(ticket, "<ticket>");
            self.host.warn(&format!(
                "CAS ticket for {} refused: {why}; no identity",
                shown(req)
            ));
            match refusal {
                Refusal::Refused { .. } => "refused",
                Refusal::Malformed(_) => "unavailable",
            }
        })
    }

    /// The attributes as an identity value.
    fn attributes_value(attributes: std::collections::BTreeMap<String, AttrValue>) -> Value {
        let mut map = Map::with_capacity(attributes.len());
        for (name, value) in attributes {
            match value {
                AttrValue::One(v) => map.insert(name, v),
                AttrValue::Many(vs) => map.insert(name, vs),
            };
        }
        Value::Map(map)
    }

    /// A 302 to `location` with `headers`.
    fn redirect(location: &str, headers: &[HeaderField]) -> Response {
        let mut r = Response::new(302)
            .with_header("Location", location)
            .with_header("Cache-Control", "no-store");
        r.headers.extend(headers.iter().cloned());
        r
    }
}

// IIdentifier
impl Identifier for Cas {
    fn identify(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
    ) -> Result<Option<Identity>, PluginError> {
        if !self.path_logout.is_empty() || !self.path_toskip.is_empty() {
            let url = req.url();
            if self.path_logout.iter().any(|r| r.is_match(&url)) {
                let back = service::service_url(req.scheme(), req.host(), "/", "");
                let forget = self.rememberer.forget(req, env, &Identity::new())?;
                self.host
                    .debug(&format!("logout path {}: to CAS logout", shown(req)));
                env.replace_response(Self::redirect(
                    &service::logout_url(&self.base, &back),
                    &forget,
                ));
                return Ok(None);
            }
            if self.path_toskip.iter().any(|r| r.is_match(&url)) {
                return Ok(None);
            }
        }
        if !(req.method() == "GET" || req.method() == "HEAD") {
            return Ok(None);
        }
        let split = service::split_ticket(req.query());
        let Some(raw) = split.ticket else {
            return Ok(None);
        };
        let ticket = match service::decode(raw) {
            Some(t) if service::plausible_ticket(&t) => t,
            _ => {
                self.host.warn(&format!(
                    "CAS ticket for {} refused: not a plausible ticket (1-256 printable \
                     characters); no identity",
                    shown(req)
                ));
                env.set(&self.env_failed, "refused");
                return Ok(None);
            }
        };
        if !self.host.may_block() {
            // An async edge's inline attempt: it runs the request again where it may block.
            return Err(PluginError::new("would block: a CAS ticket to validate"));
        }
        let service = service::service_url(req.scheme(), req.host(), req.path(), &split.rest);
        let success = match self.validate(req, &ticket, &service) {
            Ok(s) => s,
            Err(kind) => {
                env.set(&self.env_failed, kind);
                return Ok(None);
            }
        };
        self.host.info(&format!(
            "CAS ticket validated for {} ({} attributes)",
            shown(req),
            success.attributes.len()
        ));
        let mut identity = Identity::with_capacity(3);
        identity.insert("login", success.user.as_str());
        identity.insert(MARK_KEY, success.user.as_str());
        if let Some(name) = &self.attributes_name {
            if self.version != Version::V1 {
                identity.insert(name.clone(), Self::attributes_value(success.attributes));
            }
        }
        env.set(&self.env_login, success.user);
        env.replace_response(Self::redirect(&service, &[]));
        Ok(Some(identity))
    }

    fn remember(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        self.rememberer
            .remember(req, env, identity)
            .map_err(|e| PluginError::new(format!("rememberer `{}`: {e}", self.rememberer_name)))
    }

    fn forget(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        self.rememberer
            .forget(req, env, identity)
            .map_err(|e| PluginError::new(format!("rememberer `{}`: {e}", self.rememberer_name)))
    }
}

// IAuthenticator
impl Authenticator for Cas {
    fn authenticate(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        let (Some(mark), Some(validated)) =
            (identity.get_str(MARK_KEY), env.get_str(&self.env_login))
        else {
            return Ok(None);
        };
        if mark != validated || identity.get_str("login") != Some(validated) {
            return Ok(None);
        }
        let userid = Value::from(validated);
        identity.insert(USERID_KEY, userid.clone());
        // The redirect to the clean URL is this request's answer: it carries the cookie.
        let remember = self.remember(req, env, identity)?;
        if let Some(mut redirect) = env.take_response() {
            redirect.headers.extend(remember);
            env.replace_response(redirect);
        }
        Ok(Some(userid))
    }
}

// IChallenger
impl Challenger for Cas {
    fn challenge(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
        _status: u16,
        app_headers: &[HeaderField],
        forget_headers: &[HeaderField],
    ) -> Result<Option<Response>, PluginError> {
        let service = self.service_of(req);
        if let Some(kind) = env.get_str(&self.env_failed) {
            // A redirect to CAS could come straight back with another ticket that fails the
            // same way: answer with a page and let the user try again.
            let (status, text) = if kind == "refused" {
                (403, "The single sign-on ticket was refused.")
            } else {
                (502, "The single sign-on server could not be reached.")
            };
            let body = format!(
                "<!DOCTYPE html>\n<html><head><title>Sign-on failed</title></head><body>\
                 <p>{text}</p><p><a href=\"{}\">Try again</a></p></body></html>\n",
                html_escape(&service)
            );
            let mut r = Response::new(status)
                .with_header("Content-Type", "text/html; charset=utf-8")
                .with_header("Cache-Control", "no-store")
                .with_body(body);
            r.headers.extend(forget_headers.iter().cloned());
            return Ok(Some(r));
        }
        let mut headers: Vec<HeaderField> = forget_headers.to_vec();
        headers.extend(
            app_headers
                .iter()
                .filter(|h| h.name.as_str().eq_ignore_ascii_case("set-cookie"))
                .cloned(),
        );
        Ok(Some(Self::redirect(
            &service::login_url(&self.base, &service),
            &headers,
        )))
    }
}

/// Escapes text for an HTML attribute or element.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

rewho_plugin_api::export_plugin! {
    "cas" => Cas: [identifier, authenticator, challenger],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_anchored_at_the_start_like_re_match() {
        let r = compile_paths("path_logout", Some("\n  .*/logout$\n\nhttp://a/x\n")).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r[0].is_match("http://h/app/logout"));
        assert!(!r[0].is_match("http://h/app/logout/more"));
        assert!(r[1].is_match("http://a/x/y"));
        assert!(!r[1].is_match("see http://a/x"));
        let e = compile_paths("path_toskip", Some("(")).err().unwrap();
        assert!(e.0.starts_with("option `path_toskip`: `(`"), "{e}");
        assert!(compile_paths("x", None).unwrap().is_empty());
    }

    #[test]
    fn failure_pages_escape_the_url() {
        assert_eq!(
            html_escape("http://h/a?x=\"<b>&'"),
            "http://h/a?x=&quot;&lt;b&gt;&amp;&#39;"
        );
    }
}
