//! `auth_tkt`: the signed-cookie identifier and authenticator of repoze.who
//! (`repoze.who.plugins.auth_tkt`), cookie for cookie compatible with it and with Apache's
//! mod_auth_tkt.
//!
//! ```ini
//! [plugin:auth_tkt]
//! use = auth_tkt
//! secret = s3cr3t            ; or: secretfile = auth_tkt.secret (relative to who.ini)
//! cookie_name = auth_tkt
//! secure = true
//! include_ip = false
//! timeout = 3600
//! reissue_time = 360
//! digest_algo = sha512
//! samesite = Lax
//! ```
//!
//! | option | default | meaning |
//! | --- | --- | --- |
//! | `secret` / `secretfile` | — | exactly one; the file's content is trimmed |
//! | `cookie_name` | `auth_tkt` | |
//! | `secure` | auto | `true`: always `; secure`; `false`: never; absent: when the request came over https (the connection, or `X-Forwarded-Proto` from a trusted proxy). repoze.who's default is `false` |
//! | `httponly` | `true` | rewho's own: `HttpOnly` unless set to `false` (repoze.who sends it only with `secure`; set `httponly = false` for its exact headers) |
//! | `include_ip` | `false` | binds the ticket to the client address |
//! | `timeout` | none | seconds a ticket stays valid (`0` = forever) |
//! | `reissue_time` | none | re-mint older tickets in `remember`; required and ≤ `timeout` when `timeout` is set |
//! | `digest_algo` | `md5` | `md5`, `sha1`, `sha224`, `sha256`, `sha384`, `sha512` |
//! | `samesite` | `Lax` | `Strict`, `Lax` or `None`; empty for no attribute (repoze.who's default) |
//! | `max_clock_skew` | `60` | rewho's own: seconds a ticket's timestamp may lie in the future (clock skew between hosts); later ones are refused, since a forged or stolen secret's tickets dated far ahead would outlive any `timeout` |
//! | `verified_tickets` | `4096` | rewho's own: how many verified tickets to remember, so a browser's repeat requests skip the two digests (`0`: verify every time; see below) |
//! | `userid_checker` | — | refused: it names a Python callable (see below) |
//!
//! # What it does
//! - **identify** reads the cookie (every cookie of that name: the first valid, unexpired one
//!   wins), checks the digest in constant time and the age against the host's clock, then sets
//!   `REMOTE_USER_TOKENS` (a list), `REMOTE_USER_DATA` (the raw user data) and `AUTH_TYPE`
//!   (`cookie`) in the environ and returns `{timestamp, repoze.who.plugins.auth_tkt.userid,
//!   tokens, userdata}`. A `userid_type=int` user id comes back as an integer.
//! - **authenticate** accepts only identities carrying `repoze.who.plugins.auth_tkt.userid`
//!   (those this kind of plugin identified), copying it to `repoze.who.userid`.
//! - **remember** mints a ticket from `repoze.who.userid`, `tokens`, `userdata` and
//!   `max_age` of the identity, but only when they differ from the request's ticket or the
//!   ticket is older than `reissue_time`; it answers with three `Set-Cookie` headers (no
//!   domain, `Domain=host`, `Domain=.host`, port stripped). **forget** sends the same three
//!   with value `INVALID` and `Max-Age=0`.
//!
//! The ticket format is in [`ticket`]; the URL quoting it depends on in [`pyurl`].
//!
//! # Remembered tickets
//! A ticket whose digest checked out is remembered (its exact text and the client address
//! used, up to `verified_tickets` of them, compared in constant time), so the same ticket
//! again skips the two digests: a browser sends one ticket with every request until it is
//! re-issued, and `remember` reads the request's ticket after `identify` did. Expiry is still
//! checked on every use; tickets that fail are never remembered; a reload starts afresh.
//!
//! # IPv6 clients with `include_ip`
//! repoze.who packs the client's dotted IPv4 address into four bytes and fails on anything
//! else. Here an IPv4 address (or an IPv4-mapped IPv6 one, `::ffff:a.b.c.d`) is those same
//! four bytes, so tickets stay interchangeable with repoze.who and mod_auth_tkt; a real IPv6
//! address puts its **sixteen network-order bytes** in their place. Such tickets only make
//! sense to rewho. With `include_ip` and no known client address, identify finds nothing and
//! remember fails (logged by the host).
//!
//! # Where rewho differs from repoze.who, on purpose
//! - Digests are compared in constant time (repoze.who uses `!=`).
//! - No re-mint on every response for tickets without tokens. repoze.who's `parse_ticket`
//!   returns `"".split(",") == [""]` for an empty token string, while an identity without
//!   tokens (`api.remember({'repoze.who.userid': ...})`, an identity from another plugin or a
//!   cache) gives `()`: `('',) != ()`, so every `remember` minted a fresh ticket with a new
//!   timestamp and sent three `Set-Cookie` headers. Here the comma-joined token strings are
//!   compared, and identify returns `[]` (not `[""]`) for no tokens.
//! - A request without a valid ticket always gets one from remember (repoze.who skips it
//!   for an empty user id, and crashes with `reissue_time` set).
//! - `userid_type=unicode` (Python 2 tickets) keeps the user id as a string instead of
//!   raising `TypeError`; a `userid_type=int` ticket whose user id is not an integer is
//!   refused instead of raising `ValueError`.
//! - `secretfile` is relative to the config file's folder, not the working directory;
//!   an empty secret is refused.
//! - `userid_checker` is refused at start-up: it names a Python callable rewho cannot run,
//!   and silently dropping a check that may lock users out would be worse. Check users in an
//!   authenticator or metadata provider instead.
//! - A `Host` header with characters that do not belong in a host name (`;`, spaces, …) gets
//!   only the domain-less cookie. For `[v6]:port` hosts the domain is `[v6]`, where repoze.who
//!   writes `[`.
//! - Tokens and user data that would break the `Set-Cookie` header (control characters,
//!   non-ASCII, `"`, `\`, `;`) are refused like `!` and `,` are.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

pub mod cookie;
pub mod pyurl;
pub mod ticket;
mod verified;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rewho_plugin_api::{
    Authenticator, Environ, FactoryContext, HeaderField, Host, Identifier, Identity, Map, Plugin,
    PluginError, Request, Value, USERID_KEY,
};
use serde::Deserialize;

use crate::cookie::CookieAttrs;
use crate::ticket::{ClientIp, DigestAlgo, Ticket};
use crate::verified::VerifiedTickets;

/// The identity key holding the user id this plugin read from a ticket (repoze.who's name).
pub const TICKET_USERID_KEY: &str = "repoze.who.plugins.auth_tkt.userid";
/// The user-data key that records the user id's type.
pub const USERID_TYPE_KEY: &str = "userid_type";

/// Options of the `auth_tkt` plugin: repoze.who's `make_plugin` arguments, plus `samesite`
/// and `httponly`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// The signing secret.
    secret: Option<String>,
    /// A file holding the secret (relative to the config folder; `~` expands).
    secretfile: Option<String>,
    /// The cookie's name.
    #[serde(default = "default_cookie_name")]
    cookie_name: String,
    /// Mark cookies `secure`: always, never, or (absent) when the request came over https.
    secure: Option<bool>,
    /// Mark cookies `HttpOnly`; on by default, so page scripts never see the ticket
    /// (repoze.who sends it only with `secure`).
    httponly: Option<bool>,
    /// Bind tickets to the client address.
    #[serde(default)]
    include_ip: bool,
    /// Ticket lifetime in seconds; `0` or absent for none.
    timeout: Option<u64>,
    /// Age in seconds after which `remember` re-mints a ticket.
    reissue_time: Option<u64>,
    /// `hashlib` name of the digest.
    digest_algo: Option<String>,
    /// `SameSite` attribute: `Strict`, `Lax` (the default) or `None`; empty for none.
    samesite: Option<String>,
    /// Seconds a ticket's timestamp may lie in the future.
    #[serde(default = "default_max_clock_skew")]
    max_clock_skew: u64,
    /// repoze.who's Python callable; refused with an explanation.
    userid_checker: Option<String>,
    /// How many verified tickets to remember, so repeat requests skip the digests; `0` for
    /// none.
    #[serde(default = "default_verified_tickets")]
    verified_tickets: usize,
}

fn default_max_clock_skew() -> u64 {
    60
}

fn default_verified_tickets() -> usize {
    4096
}

fn default_cookie_name() -> String {
    "auth_tkt".to_owned()
}

/// The plugin. Its `Debug` leaves the secret out.
pub struct AuthTkt {
    secret: Vec<u8>,
    cookie_name: String,
    include_ip: bool,
    timeout: Option<u64>,
    reissue_time: Option<u64>,
    algo: DigestAlgo,
    attrs: CookieAttrs,
    /// `secure`: `None` follows the request's scheme.
    secure: Option<bool>,
    max_clock_skew: u64,
    host: Host,
    verified: VerifiedTickets,
}

impl std::fmt::Debug for AuthTkt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthTkt")
            .field("secret", &"<hidden>")
            .field("cookie_name", &self.cookie_name)
            .field("include_ip", &self.include_ip)
            .field("timeout", &self.timeout)
            .field("reissue_time", &self.reissue_time)
            .field("digest_algo", &self.algo.name())
            .field("attrs", &self.attrs)
            .finish()
    }
}

/// RFC 6265 cookie-name characters (an HTTP token).
fn valid_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'(' | b')'
                        | b'<'
                        | b'>'
                        | b'@'
                        | b','
                        | b';'
                        | b':'
                        | b'\\'
                        | b'"'
                        | b'/'
                        | b'['
                        | b']'
                        | b'?'
                        | b'='
                        | b'{'
                        | b'}'
                )
        })
}

fn expand_home(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(rest),
            None => PathBuf::from(path),
        },
        None => PathBuf::from(path),
    }
}

impl Plugin for AuthTkt {
    type Options = Options;
    const SUMMARY: &'static str =
        "signed auth_tkt cookies (repoze.who / mod_auth_tkt compatible): identifier + authenticator";

    fn new(o: Options, ctx: &FactoryContext<'_>) -> Result<Self, PluginError> {
        let secret = match (o.secret, o.secretfile) {
            (None, None) => {
                return Err("one of `secret` or `secretfile` must be set".into());
            }
            (Some(_), Some(_)) => {
                return Err("set only one of `secret` or `secretfile`".into());
            }
            (Some(secret), None) => secret,
            (None, Some(file)) => {
                let path = ctx.config_dir().join(expand_home(file.trim()));
                std::fs::read_to_string(&path)
                    .map_err(|e| {
                        PluginError(format!("cannot read secretfile {}: {e}", path.display()))
                    })?
                    .trim()
                    .to_owned()
            }
        };
        if secret.is_empty() {
            return Err("the secret is empty".into());
        }
        if o.userid_checker.is_some() {
            return Err(
                "`userid_checker` names a Python callable, which rewho cannot run; remove it \
                 and check users in an authenticator or metadata provider instead"
                    .into(),
            );
        }
        if !valid_cookie_name(&o.cookie_name) {
            return Err(format!(
                "`cookie_name` {:?} is not a valid cookie name",
                o.cookie_name
            )
            .into());
        }
        let timeout = o.timeout.filter(|&t| t > 0);
        let reissue_time = o.reissue_time.filter(|&t| t > 0);
        if let Some(timeout) = timeout {
            if reissue_time.is_none_or(|r| r > timeout) {
                return Err(
                    "when `timeout` is set, `reissue_time` must be set to a value no greater \
                     than it"
                        .into(),
                );
            }
        }
        let algo = match o.digest_algo.as_deref() {
            None => DigestAlgo::Md5,
            Some(name) => DigestAlgo::from_name(name).ok_or_else(|| {
                PluginError(format!(
                    "no such `digest_algo`: {name:?} (use md5, sha1, sha224, sha256, sha384 or sha512)"
                ))
            })?,
        };
        let samesite = match o.samesite.as_deref().map(str::trim) {
            None => Some("Lax".to_owned()),
            Some("") => None,
            Some(v) if ["strict", "lax", "none"].contains(&v.to_ascii_lowercase().as_str()) => {
                Some(v.to_owned())
            }
            Some(v) => {
                return Err(format!("`samesite` must be Strict, Lax or None, not {v:?}").into())
            }
        };
        let host = ctx.host();
        if samesite
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("none"))
            && o.secure == Some(false)
        {
            host.warn("samesite = None without secure = true: browsers will drop the cookie");
        }
        Ok(AuthTkt {
            secret: secret.into_bytes(),
            cookie_name: o.cookie_name,
            include_ip: o.include_ip,
            timeout,
            reissue_time,
            algo,
            secure: o.secure,
            max_clock_skew: o.max_clock_skew,
            attrs: CookieAttrs {
                secure: o.secure.unwrap_or(false),
                httponly: o.httponly.unwrap_or(true),
                samesite,
            },
            host,
            verified: VerifiedTickets::new(o.verified_tickets),
        })
    }
}

/// Values of every cookie called `name` in the request, unquoted, in order.
fn cookie_values<'r, 'a>(
    req: &'r Request<'a>,
    name: &'r str,
) -> impl Iterator<Item = &'r str> + use<'r, 'a> {
    req.headers_named("cookie").flat_map(move |header| {
        header.split(';').filter_map(move |pair| {
            let (k, v) = pair.trim().split_once('=')?;
            if k.trim() != name {
                return None;
            }
            let v = v.trim();
            Some(
                v.strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v),
            )
        })
    })
}

/// Python's `int(s)` for a decimal string: surrounding whitespace, a sign, and single
/// underscores between digits; `None` when it does not parse or does not fit `i64`.
pub fn py_int(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let mut value: i64 = 0;
    for b in digits.bytes().filter(u8::is_ascii_digit) {
        let d = i64::from(b - b'0');
        value = value.checked_mul(10)?;
        value = if neg {
            value.checked_sub(d)?
        } else {
            value.checked_add(d)?
        };
    }
    Some(value)
}

fn secs_after(timestamp: u32, secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(timestamp).saturating_add(secs))
}

impl AuthTkt {
    /// The address that goes into the digest; `None` when `include_ip` is on and the client
    /// address is unknown or unparsable.
    fn client_ip(&self, req: &Request<'_>) -> Option<ClientIp> {
        if self.include_ip {
            ClientIp::parse(req.client_addr())
        } else {
            Some(ClientIp::UNSPECIFIED)
        }
    }

    /// The request's tickets whose digest checks out, in cookie order.
    fn valid_tickets<'r, 'a>(
        &'r self,
        req: &'r Request<'a>,
        ip: ClientIp,
    ) -> impl Iterator<Item = Ticket<'r>> + use<'r, 'a> {
        cookie_values(req, &self.cookie_name)
            .filter(|v| !v.is_empty())
            .filter_map(
                move |v| match self.verified.parse(&self.secret, v, &ip, self.algo) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        self.host
                            .debug(&format!("ignoring {} cookie: {e}", self.cookie_name));
                        None
                    }
                },
            )
    }

    /// Past its `timeout`, or dated more than `max_clock_skew` into the future.
    fn expired(&self, t: &Ticket<'_>, now: SystemTime) -> bool {
        self.timeout
            .is_some_and(|timeout| secs_after(t.timestamp, timeout) < now)
            || secs_after(t.timestamp, 0)
                > now + std::time::Duration::from_secs(self.max_clock_skew)
    }

    fn cookies(&self, req: &Request<'_>, value: &str, max_age: Option<i64>) -> Vec<HeaderField> {
        let https = req.scheme().eq_ignore_ascii_case("https");
        let per_request;
        let attrs = match self.secure {
            None if https => {
                per_request = CookieAttrs {
                    secure: true,
                    ..self.attrs.clone()
                };
                &per_request
            }
            _ => &self.attrs,
        };
        cookie::set_cookies(
            &self.cookie_name,
            value,
            req.host_without_port(),
            max_age,
            self.host.now_secs(),
            attrs,
        )
    }
}

/// The identity's tokens: a list of strings (or integers), or one comma-separated string.
fn identity_tokens(identity: &Identity) -> Result<Vec<String>, PluginError> {
    match identity.get("tokens") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Str(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::Str(s)) => Ok(s.split(',').map(str::to_owned).collect()),
        Some(Value::List(items)) => items
            .iter()
            .map(|v| match v {
                Value::Str(s) => Ok(s.to_string()),
                Value::Int(i) => Ok(i.to_string()),
                _ => Err(PluginError::new("identity `tokens` must hold strings")),
            })
            .collect(),
        Some(_) => Err("identity `tokens` must be a list of strings".into()),
    }
}

/// Whether `ticket` already says what remembering `identity` (whose user id is `userid`)
/// would sign, for the common identities: a string user id, no user data, tokens as a
/// string or a list of strings. `false` means "work it out in full", never "changed".
fn signs_as(ticket: &Ticket<'_>, userid: &Value, identity: &Identity) -> bool {
    let Value::Str(userid) = userid else {
        return false;
    };
    let no_user_data = match identity.get("userdata") {
        None | Some(Value::Null) => true,
        Some(Value::Map(m)) => m.is_empty(),
        Some(_) => false,
    };
    let tokens_match = match identity.get("tokens") {
        None | Some(Value::Null) => ticket.tokens.is_empty(),
        // Split at commas and joined with commas again: the string itself.
        Some(Value::Str(s)) => ticket.tokens == s.as_str(),
        Some(Value::List(items)) => {
            let mut signed = ticket.tokens.split(',');
            let all = items.iter().all(|v| match v {
                Value::Str(s) => signed.next() == Some(s.as_str()),
                _ => false,
            });
            // No tokens are signed as "", which splits into one empty part.
            all && if items.is_empty() {
                ticket.tokens.is_empty()
            } else {
                signed.next().is_none()
            }
        }
        Some(_) => false,
    };
    no_user_data && ticket.user_data.is_empty() && tokens_match && ticket.userid == userid.as_str()
}

/// The identity's `max_age` as Python's `int()` reads it.
fn identity_max_age(identity: &Identity) -> Result<Option<i64>, PluginError> {
    match identity.get("max_age") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Int(i)) => Ok(Some(*i)),
        Some(Value::Float(x)) if x.is_finite() => Ok(Some(x.trunc() as i64)),
        Some(Value::Str(s)) => py_int(s)
            .map(Some)
            .ok_or_else(|| PluginError::new("identity `max_age` is not an integer")),
        Some(_) => Err("identity `max_age` is not an integer".into()),
    }
}

// IIdentifier
impl Identifier for AuthTkt {
    fn identify(
        &self,
        req: &Request<'_>,
        env: &mut Environ,
    ) -> Result<Option<Identity>, PluginError> {
        let Some(ip) = self.client_ip(req) else {
            self.host
                .debug("include_ip is set but the client address is unknown: no identity");
            return Ok(None);
        };
        // The clock is read only once a ticket is found: most identifiers in a chain find no
        // cookie of theirs, and the read goes through the host context.
        let mut now = None;
        let Some(t) = self
            .valid_tickets(req, ip)
            .find(|t| !self.expired(t, *now.get_or_insert_with(|| self.host.now())))
        else {
            return Ok(None);
        };
        let userdata = pyurl::parse_qs_dict(t.user_data);
        let userid = match userdata.get_str(USERID_TYPE_KEY) {
            Some("int") => match py_int(&t.userid) {
                Some(i) => Value::Int(i),
                None => {
                    self.host
                        .debug("ticket says userid_type=int but the user id is not an integer");
                    return Ok(None);
                }
            },
            // `unicode` (Python 2) and unknown types keep the string, as repoze.who means to.
            _ => Value::from(t.userid.as_ref()),
        };
        let tokens = Value::from(t.token_list());
        env.set("REMOTE_USER_TOKENS", tokens.clone());
        env.set("REMOTE_USER_DATA", t.user_data);
        env.set("AUTH_TYPE", "cookie");
        // Room for the host's user id, identifier and authenticator keys too.
        let mut identity = Map::with_capacity(8);
        identity.insert("timestamp", i64::from(t.timestamp));
        identity.insert(TICKET_USERID_KEY, userid);
        identity.insert("tokens", tokens);
        identity.insert("userdata", userdata);
        Ok(Some(identity))
    }

    fn remember(
        &self,
        req: &Request<'_>,
        _env: &mut Environ,
        identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        let Some(who_userid) = identity.get(USERID_KEY) else {
            return Ok(Vec::new());
        };
        let ip = self.client_ip(req).ok_or_else(|| {
            PluginError::new("include_ip is set but the client address is unknown")
        })?;
        // Most requests carry the ticket this identity was read from: say so without
        // building (and allocating) the ticket text again.
        let now = self.host.now();
        let old = self.valid_tickets(req, ip).next();
        let reissue_due = match (&old, self.reissue_time) {
            (Some(t), Some(reissue)) => secs_after(t.timestamp, reissue) < now,
            _ => false,
        };
        if !reissue_due
            && old
                .as_ref()
                .is_some_and(|t| signs_as(t, who_userid, identity))
            && identity_max_age(identity).is_ok()
        {
            return Ok(Vec::new());
        }
        let (userid, userid_type) = match who_userid {
            Value::Str(s) => (s.to_string(), None),
            Value::Int(i) => (i.to_string(), Some("int")),
            _ => return Err("the user id must be a string or an integer".into()),
        };
        let mut userdata = match identity.get("userdata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Map(m)) => m.clone(),
            Some(_) => return Err("identity `userdata` must be a mapping".into()),
        };
        if let Some(kind) = userid_type {
            userdata.insert(USERID_TYPE_KEY, kind);
        }
        let user_data = pyurl::urlencode(&userdata);
        let tokens = identity_tokens(identity)?;
        let joined = tokens.join(",");
        let max_age = identity_max_age(identity)?;

        let unchanged = old.as_ref().is_some_and(|t| {
            t.userid == userid.as_str() && t.tokens == joined && t.user_data == user_data
        });
        if unchanged && !reissue_due {
            return Ok(Vec::new());
        }
        let timestamp = u32::try_from(self.host.now_secs())
            .map_err(|_| PluginError::new("the clock is outside the ticket's 32-bit range"))?;
        let token_refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let value = ticket::mint(
            &self.secret,
            self.algo,
            &ip,
            timestamp,
            &userid,
            &token_refs,
            &user_data,
        )
        .map_err(|e| PluginError(format!("cannot remember the user: {e}")))?;
        let old_value = cookie_values(req, &self.cookie_name).last();
        if old_value == Some(value.as_str()) {
            return Ok(Vec::new());
        }
        Ok(self.cookies(req, &value, max_age))
    }

    fn forget(
        &self,
        req: &Request<'_>,
        _env: &mut Environ,
        _identity: &Identity,
    ) -> Result<Vec<HeaderField>, PluginError> {
        Ok(self.cookies(req, "INVALID", Some(0)))
    }
}

// IAuthenticator
impl Authenticator for AuthTkt {
    fn authenticate(
        &self,
        _req: &Request<'_>,
        _env: &mut Environ,
        identity: &mut Identity,
    ) -> Result<Option<Value>, PluginError> {
        let userid = match identity.get(TICKET_USERID_KEY) {
            None | Some(Value::Null) => return Ok(None),
            Some(userid) => userid.clone(),
        };
        identity.insert(USERID_KEY, userid.clone());
        Ok(Some(userid))
    }
}

rewho_plugin_api::export_plugin! {
    "auth_tkt" => AuthTkt: [identifier, authenticator],
}

#[cfg(test)]
mod tests;
