//! The HTTP client that asks the CAS server about a ticket: bounded in time and size, no
//! redirects followed, and never a ticket in an error message.

use std::time::Duration;

use crate::validate::MAX_RESPONSE;

/// Why a validation request got no answer to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// No connection, a timeout, a TLS failure, or a body that could not be read.
    Unreachable(String),
    /// The server answered, but not with 200.
    Status(u16),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Unreachable(why) => write!(f, "CAS server unreachable: {why}"),
            FetchError::Status(s) => write!(f, "CAS server answered HTTP {s}"),
        }
    }
}

/// A blocking client with one whole-request timeout.
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    /// A client whose every request (connect, TLS, send, read) ends within `timeout`.
    pub fn new(timeout: Duration) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("rewho-cas")
            .build()
            .into();
        Client { agent }
    }

    /// `GET url`, the body as text (at most [`MAX_RESPONSE`] bytes). `url` holds a ticket:
    /// errors name only what went wrong, never the URL.
    pub fn get(&self, url: &str) -> Result<String, FetchError> {
        let mut response = self
            .agent
            .get(url)
            .call()
            .map_err(|e| FetchError::Unreachable(describe(&e)))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(FetchError::Status(status));
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_string()
            .map_err(|e| FetchError::Unreachable(describe(&e)))
    }
}

/// A ureq error without the URL it may quote.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(what) => format!("timed out ({what:?})"),
        ureq::Error::Io(io) => format!("{}", io.kind()),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::BodyExceedsLimit(n) => format!("answer longer than {n} bytes"),
        other => {
            // Other variants do not carry the request URL; keep the first line only.
            let text = other.to_string();
            text.lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect()
        }
    }
}
