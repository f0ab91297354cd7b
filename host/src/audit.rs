//! Audit lines: one JSON object per access decision (allow, deny, challenge), for the
//! `rewho::audit` log target.
//!
//! A line names who asked for what and which plugin and rule decided:
//!
//! ```json
//! {"time":"2026-12-04T16:20:00.123Z","request_id":"65dd62fb-1","client":"203.0.113.9",
//!  "method":"GET","url":"https://app.example.com/admin/users?page=…","user":"bob",
//!  "decision":"deny","status":403,"identifier":"auth_tkt","authenticator":"auth_tkt",
//!  "authorizer":"rules","rule":"rule 2 `/admin/** group:admins`: no requirement is met"}
//! ```
//!
//! # What never goes in
//! The record has no field for headers, cookies, identities or passwords, so none can be
//! written. The query string is the one part of the URL that routinely carries credentials
//! (`?token=`, `?code=`, `?ticket=`, `?sig=`, signed-URL parameters): every value is replaced
//! by `…` and only parameter names are kept, because no list of "secret" names can know every
//! application's. A name that does not look like one (a bare token, say) is replaced too.
//! The path is kept as sent, because rules match on it and an audit must show what was
//! asked for: applications that put secrets in paths (`/reset/<token>`) leak them to every
//! access log, this one included. Every string is JSON-escaped, so no value can start a
//! second line; long values are cut at [`MAX_FIELD`] bytes.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Longest string field written, in bytes; longer ones end in `…`.
pub const MAX_FIELD: usize = 2048;

/// What was decided for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditDecision {
    /// Let through (with or without a user).
    Allow,
    /// Refused with 403 (an authenticated user an authorizer denied).
    Deny,
    /// Answered with a challenge (401, a redirect to the login form).
    Challenge,
}

/// One decision, borrowed from the request being answered. Fields that do not apply are
/// `None` and left out of the line.
#[derive(Debug, Clone, Copy)]
pub struct AuditRecord<'a> {
    /// When the decision was made.
    pub time: SystemTime,
    /// The request id (also sent as `X-Request-Id`).
    pub request_id: &'a str,
    /// The client address as the edge determined it (trusted proxies applied).
    pub client: &'a str,
    /// The method of the request decided on (the original one, for forward-auth).
    pub method: &'a str,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The host the client asked for.
    pub host: &'a str,
    /// The path, as received.
    pub path: &'a str,
    /// The query without `?` (redacted when written).
    pub query: &'a str,
    /// The authenticated user id, if any.
    pub user: Option<&'a str>,
    /// The decision.
    pub decision: AuditDecision,
    /// The status answered (200, 401, 302, 403, …).
    pub status: Option<u16>,
    /// The identifier whose identity won.
    pub identifier: Option<&'a str>,
    /// The authenticator that named the user.
    pub authenticator: Option<&'a str>,
    /// The authorizer that decided (`None` without `[authorizers]`).
    pub authorizer: Option<&'a str>,
    /// The authorizer's reason: which rule decided (authorizers keep secrets out of it).
    pub rule: Option<&'a str>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    request_id: String,
    client: String,
    method: String,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    decision: AuditDecision,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identifier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authenticator: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorizer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<String>,
}

/// `s`, cut at a character boundary at most [`MAX_FIELD`] bytes in, with `…` when cut.
fn capped(s: &str) -> String {
    if s.len() <= MAX_FIELD {
        return s.to_owned();
    }
    let mut end = MAX_FIELD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// `true` for a parameter name worth keeping: short, and made of name characters only.
fn looks_like_a_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.[]%".contains(&b))
}

/// The query with every value replaced by `…` and names kept only when they look like
/// names: `a=1&token=xyz&bare` → `a=…&token=…&…`.
pub fn redact_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len().min(256));
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if looks_like_a_name(name) => {
                out.push_str(name);
                out.push_str("=…");
            }
            None if pair.is_empty() => {}
            _ => out.push('…'),
        }
    }
    out
}

/// RFC 3339 UTC with milliseconds: `2026-12-04T16:20:00.123Z`.
fn rfc3339(time: SystemTime) -> String {
    let d = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut s = String::with_capacity(24);
    let _ = write!(
        s,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    );
    s
}

impl AuditRecord<'_> {
    /// The URL as audited: `scheme://host/path?redacted-query`.
    pub fn url(&self) -> String {
        let mut url = format!("{}://{}{}", self.scheme, self.host, self.path);
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(&redact_query(self.query));
        }
        capped(&url)
    }

    /// The record as one line of JSON (no trailing newline).
    pub fn to_json_line(&self) -> String {
        let line = Line {
            time: rfc3339(self.time),
            request_id: capped(self.request_id),
            client: capped(self.client),
            method: capped(self.method),
            url: self.url(),
            user: self.user.map(capped),
            decision: self.decision,
            status: self.status,
            identifier: self.identifier,
            authenticator: self.authenticator,
            authorizer: self.authorizer,
            rule: self.rule.map(capped),
        };
        // Serialising strings and integers into a String cannot fail.
        serde_json::to_string(&line).unwrap_or_default()
    }
}

/// Where `[general] audit_log` sends decision lines: `stderr`, or a file opened for append.
pub struct AuditSink {
    out: std::sync::Mutex<Box<dyn std::io::Write + Send>>,
}

impl std::fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditSink")
    }
}

impl AuditSink {
    /// `stderr`, or a path to append to (created with mode 0600).
    pub fn open(target: &str) -> std::io::Result<AuditSink> {
        let out: Box<dyn std::io::Write + Send> = if target == "stderr" {
            Box::new(std::io::stderr())
        } else {
            use std::os::unix::fs::OpenOptionsExt;
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(target)?,
            )
        };
        Ok(AuditSink {
            out: std::sync::Mutex::new(out),
        })
    }

    /// Writes one line (a failed write is logged once per call, never fatal).
    pub fn write_line(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            tracing::warn!(target: "rewho::audit", "audit line not written: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record<'a>(query: &'a str, user: Option<&'a str>) -> AuditRecord<'a> {
        AuditRecord {
            time: UNIX_EPOCH + Duration::from_millis(1_796_401_200_123),
            request_id: "65dd62fb-1",
            client: "203.0.113.9",
            method: "GET",
            scheme: "https",
            host: "app.example.com",
            path: "/admin/users",
            query,
            user,
            decision: AuditDecision::Deny,
            status: Some(403),
            identifier: Some("auth_tkt"),
            authenticator: Some("auth_tkt"),
            authorizer: Some("rules"),
            rule: Some("rule 2 `/admin/** group:admins`: no requirement is met"),
        }
    }

    #[test]
    fn a_line_is_json_with_every_field() {
        let line = record("page=2", Some("bob")).to_json_line();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["time"], "2026-12-04T16:20:00.123Z");
        assert_eq!(v["request_id"], "65dd62fb-1");
        assert_eq!(v["client"], "203.0.113.9");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["url"], "https://app.example.com/admin/users?page=…");
        assert_eq!(v["user"], "bob");
        assert_eq!(v["decision"], "deny");
        assert_eq!(v["status"], 403);
        assert_eq!(v["identifier"], "auth_tkt");
        assert_eq!(v["authenticator"], "auth_tkt");
        assert_eq!(v["authorizer"], "rules");
        assert_eq!(
            v["rule"],
            "rule 2 `/admin/** group:admins`: no requirement is met"
        );
        // An anonymous challenge leaves the user and plugins out.
        let mut anon = record("", None);
        anon.decision = AuditDecision::Challenge;
        anon.status = Some(401);
        anon.identifier = None;
        anon.authenticator = None;
        let v: serde_json::Value = serde_json::from_str(&anon.to_json_line()).unwrap();
        assert_eq!(v["decision"], "challenge");
        assert_eq!(v["url"], "https://app.example.com/admin/users");
        assert!(v.get("user").is_none() && v.get("identifier").is_none());
    }

    #[test]
    fn no_secret_reaches_the_line() {
        let secrets = [
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl",
            "s3cr3t-pa55",
            "ST-12345-cas-ticket",
            "AKIAEXAMPLE-sig",
        ];
        let query = format!(
            "access_token={}&password={}&ticket={}&X-Amz-Signature={}&{}",
            secrets[0], secrets[1], secrets[2], secrets[3], secrets[1]
        );
        let line = record(&query, Some("bob\n{\"forged\":1}")).to_json_line();
        for s in secrets {
            assert!(!line.contains(s), "{s} in {line}");
        }
        assert_eq!(line.lines().count(), 1, "a user name cannot add a line");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v["url"],
            "https://app.example.com/admin/users?access_token=…&password=…&ticket=…&X-Amz-Signature=…&…"
        );
        assert_eq!(v["user"], "bob\n{\"forged\":1}");
    }

    #[test]
    fn queries_are_redacted_and_long_fields_cut() {
        assert_eq!(redact_query("a=1&b=&c"), "a=…&b=…&…");
        assert_eq!(redact_query("&&x=1"), "&&x=…");
        assert_eq!(redact_query("we ird=1"), "…");
        let long = "é".repeat(MAX_FIELD);
        let cut = capped(&long);
        assert!(cut.len() <= MAX_FIELD + "…".len() && cut.ends_with('…'));
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
