//! Token refresh: when a session's key is about to expire, ask the auth service for a new one
//! and hand the cookies it sets back to the client.
//!
//! As in the original middleware, the refresh is a `POST refresh_url` carrying the request's
//! `Authorization`; a failure is logged and ignored (this request still uses the current
//! token, which has not expired yet).

use std::time::Duration;

use rewho_plugin_api::HeaderField;

/// At most this many headers are taken from a refresh response.
const MAX_HEADERS: usize = 16;

/// A blocking HTTP client for one refresh endpoint. `Debug` is not derived (no secrets here,
/// but nothing to show either).
pub struct Refresher {
    agent: ureq::Agent,
    url: String,
    /// The URL without credentials, for logs.
    shown_url: String,
    session_header: String,
}

impl Refresher {
    /// A refresher posting to `url` with a whole-request `timeout`. `session_header` is the
    /// response header (besides `Set-Cookie`) passed back to the client.
    pub fn new(url: String, timeout: Duration, session_header: String) -> Result<Self, String> {
        let lower = url.to_ascii_lowercase();
        let shown = crate::store::redact_url(&url);
        if lower.starts_with("https://") && !cfg!(feature = "https") {
            return Err(format!(
                "refresh_url `{}`: this build has no TLS client; use http:// to an internal \
                 auth service, or build rewho-plugin-redis_session with the `https` feature",
                shown
            ));
        }
        if !lower.starts_with("http://") && !lower.starts_with("https://") {
            return Err(format!(
                "refresh_url `{shown}` must be an http:// or https:// URL"
            ));
        }
        Ok(Self::build(url, timeout, session_header))
    }

    fn build(url: String, timeout: Duration, session_header: String) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Refresher {
            agent,
            shown_url: crate::store::redact_url(&url),
            url,
            session_header,
        }
    }

    /// Posts `authorization` to the refresh endpoint and returns the response's `Set-Cookie`
    /// headers and session header, to be sent to the client. `Err` holds a log message.
    pub fn refresh(&self, authorization: &str) -> Result<Vec<HeaderField>, String> {
        let response = self
            .agent
            .post(&self.url)
            .header("Authorization", authorization)
            .send_empty()
            .map_err(|e| format!("token refresh at {} failed: {e}", self.shown_url))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "token refresh at {} answered {status}; keeping the current token",
                self.shown_url
            ));
        }
        let headers = response.headers();
        let mut out = Vec::new();
        for name in ["set-cookie", self.session_header.as_str()] {
            if name.is_empty() {
                continue;
            }
            for value in headers.get_all(name) {
                match value.to_str() {
                    Ok(v) if out.len() < MAX_HEADERS => out.push(HeaderField::new(
                        if name == "set-cookie" {
                            "Set-Cookie"
                        } else {
                            self.session_header.as_str()
                        },
                        v,
                    )),
                    _ => {}
                }
            }
        }
        Ok(out)
    }
}
