//! The identity provider as seen over HTTP: discovery, the JWKS (refetched on an unknown
//! `kid`, at most once per `jwks_min_refresh`), and the token endpoint. Every call is bounded
//! by the plugin's `timeout` and reads at most [`MAX_BODY`] bytes.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rewho_jwt_verify::{Algorithm, Verifier};
use serde::Deserialize;

use crate::url::encode;

/// How long a stale discovery document is used after a failed refresh before trying again.
const STALE_RETRY: Duration = Duration::from_secs(60);

/// Largest response body read from the provider.
pub const MAX_BODY: u64 = 1 << 20;

/// Why a call to the provider failed: a log message (no secrets, no tokens).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdpError {
    /// Could not connect, timed out, or the body could not be read.
    #[error("identity provider unreachable at {url}: {why}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// The transport error.
        why: String,
    },
    /// An answer that is not what the protocol says.
    #[error("identity provider answered badly at {url}: {why}")]
    Protocol {
        /// The URL called.
        url: String,
        /// What was wrong.
        why: String,
    },
    /// The token endpoint refused the code (`invalid_grant` for a bad or replayed code).
    #[error("token endpoint refused the code: HTTP {status}, error `{error}`{description}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// OAuth `error`.
        error: String,
        /// `: <error_description>` or empty.
        description: String,
    },
}

/// The discovery document fields the flow uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    /// Must equal the configured issuer exactly.
    pub issuer: String,
    /// Where the browser is sent.
    pub authorization_endpoint: String,
    /// Where codes are exchanged.
    pub token_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
    /// PKCE methods, when advertised.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

/// The client registration. `Debug` hides the secret.
pub struct Client {
    /// `client_id`.
    pub id: String,
    /// `client_secret`.
    pub secret: String,
    /// Where the secret goes.
    pub auth: ClientAuth,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// What the verifier is built with besides the keys.
#[derive(Debug, Clone)]
pub struct Checks {
    /// Accepted signature algorithms (asymmetric only).
    pub algorithms: Vec<Algorithm>,
    /// Seconds of clock skew allowed for `exp`/`nbf`.
    pub leeway: i64,
}

struct Cached<T> {
    value: T,
    at: Instant,
}

/// One provider: its issuer, cached metadata and keys, and an HTTP agent.
pub struct Idp {
    issuer: String,
    agent: ureq::Agent,
    metadata_ttl: Duration,
    jwks_min_refresh: Duration,
    checks: Checks,
    client_id: String,
    metadata: RwLock<Option<Cached<Arc<Metadata>>>>,
    keys: RwLock<Option<Arc<Verifier>>>,
    /// When the JWKS was last fetched (successfully or not): the refetch rate limit.
    last_jwks_fetch: Mutex<Option<Instant>>,
}

impl Idp {
    /// A provider at `issuer`, calls bounded by `timeout`.
    pub fn new(
        issuer: String,
        client_id: String,
        timeout: Duration,
        metadata_ttl: Duration,
        jwks_min_refresh: Duration,
        checks: Checks,
    ) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("rewho-oidc")
            .build()
            .into();
        Idp {
            issuer,
            agent,
            metadata_ttl,
            jwks_min_refresh,
            checks,
            client_id,
            metadata: RwLock::new(None),
            keys: RwLock::new(None),
            last_jwks_fetch: Mutex::new(None),
        }
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The cached metadata, if fresh enough to use without a network call.
    pub fn cached_metadata(&self) -> Option<Arc<Metadata>> {
        let guard = self.metadata.read().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .filter(|c| c.at.elapsed() < self.metadata_ttl)
            .map(|c| c.value.clone())
    }

    /// `true` when the keys are cached (a token can be checked without a network call,
    /// unless it names a new key).
    pub fn has_keys(&self) -> bool {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    fn get_text(&self, url: &str) -> Result<String, IdpError> {
        let unreachable = |why: String| IdpError::Unreachable {
            url: url.to_owned(),
            why,
        };
        let mut resp = self
            .agent
            .get(url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| unreachable(e.to_string()))?;
        if status != 200 {
            return Err(IdpError::Protocol {
                url: url.to_owned(),
                why: format!("HTTP {status}"),
            });
        }
        Ok(body)
    }

    /// The metadata: cached, or fetched from `<issuer>/.well-known/openid-configuration` and
    /// checked (same issuer, S256 when methods are advertised).
    ///
    /// When a refresh fails, the last good document keeps being used (an outage of the
    /// discovery endpoint alone does not stop logins); the error is returned only when there
    /// is none.
    pub fn metadata(&self) -> Result<Arc<Metadata>, IdpError> {
        if let Some(m) = self.cached_metadata() {
            return Ok(m);
        }
        self.fetch_metadata().or_else(|e| {
            let mut guard = self.metadata.write().unwrap_or_else(|e| e.into_inner());
            let stale = guard.as_mut().ok_or(e)?;
            // Try again in a minute, not on every request (each try may wait `timeout`).
            let now = Instant::now();
            stale.at = now
                .checked_sub(self.metadata_ttl.saturating_sub(STALE_RETRY))
                .unwrap_or(now);
            Ok(stale.value.clone())
        })
    }

    fn fetch_metadata(&self) -> Result<Arc<Metadata>, IdpError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let bad = |why: String| IdpError::Protocol {
            url: url.clone(),
            why,
        };
        let text = self.get_text(&url)?;
        let m: Metadata = serde_json::from_str(&text)
            .map_err(|e| bad(format!("not a discovery document: {e}")))?;
        if m.issuer != self.issuer {
            return Err(bad(format!(
                "its issuer is `{}`, not the configured `{}`",
                m.issuer, self.issuer
            )));
        }
        if let Some(methods) = &m.code_challenge_methods_supported {
            if !methods.iter().any(|x| x == "S256") {
                return Err(bad(
                    "PKCE S256 is not among code_challenge_methods_supported".into(),
                ));
            }
        }
        for (name, endpoint) in [
            ("authorization_endpoint", &m.authorization_endpoint),
            ("token_endpoint", &m.token_endpoint),
            ("jwks_uri", &m.jwks_uri),
        ] {
            let lower = endpoint.to_ascii_lowercase();
            if !lower.starts_with("https://") && !lower.starts_with("http://") {
                return Err(bad(format!("{name} is not an http(s) URL")));
            }
        }
        let m = Arc::new(m);
        *self.metadata.write().unwrap_or_else(|e| e.into_inner()) = Some(Cached {
            value: m.clone(),
            at: Instant::now(),
        });
        Ok(m)
    }

    /// The verifier for ID tokens: cached, or built from a fresh JWKS. With `refresh`, a
    /// cached one is replaced unless the JWKS was fetched less than `jwks_min_refresh` ago
    /// (then `Ok(None)`: nothing new to try).
    pub fn verifier(&self, refresh: bool) -> Result<Option<Arc<Verifier>>, IdpError> {
        if !refresh {
            if let Some(v) = self.keys.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
                return Ok(Some(v.clone()));
            }
        }
        {
            let mut last = self
                .last_jwks_fetch
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if refresh && last.is_some_and(|t| t.elapsed() < self.jwks_min_refresh) {
                return Ok(None);
            }
            *last = Some(Instant::now());
        }
        let m = self.metadata()?;
        let text = self.get_text(&m.jwks_uri)?;
        let (keys, _notes) =
            rewho_jwt_verify::from_jwks(&text).map_err(|e| IdpError::Protocol {
                url: m.jwks_uri.clone(),
                why: e.to_string(),
            })?;
        let verifier = Arc::new(Verifier {
            algorithms: self.checks.algorithms.clone(),
            secret: None,
            keys,
            leeway: self.checks.leeway,
            audience: vec![self.client_id.clone()],
            issuer: Some(self.issuer.clone()),
        });
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(verifier.clone());
        Ok(Some(verifier))
    }

    /// Exchanges `code` at the token endpoint and returns the `id_token`.
    pub fn exchange(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<String, IdpError> {
        let m = self.metadata()?;
        let url = m.token_endpoint.as_str();
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        let mut req = self.agent.post(url).header("Accept", "application/json");
        match client.auth {
            ClientAuth::Basic => {
                let pair = format!("{}:{}", encode(&client.id), encode(&client.secret));
                req = req.header("Authorization", format!("Basic {}", STANDARD.encode(pair)));
            }
            ClientAuth::Post => {
                form.push(("client_id", &client.id));
                form.push(("client_secret", &client.secret));
            }
        }
        let unreachable = |why: String| IdpError::Unreachable {
            url: url.to_owned(),
            why,
        };
        let mut resp = req
            .send_form(form)
            .map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| unreachable(e.to_string()))?;
        let json: serde_json::Value =
            serde_json::from_str(&body).map_err(|_| IdpError::Protocol {
                url: url.to_owned(),
                why: format!("HTTP {status} with a body that is not JSON"),
            })?;
        let field = |name: &str| json.get(name).and_then(|v| v.as_str()).unwrap_or("");
        if status != 200 {
            let description = field("error_description");
            return Err(IdpError::Refused {
                status,
                error: field("error").chars().take(64).collect(),
                description: if description.is_empty() {
                    String::new()
                } else {
                    format!(": {}", description.chars().take(200).collect::<String>())
                },
            });
        }
        match json.get("id_token").and_then(|v| v.as_str()) {
            Some(t) if !t.is_empty() => Ok(t.to_owned()),
            _ => Err(IdpError::Protocol {
                url: url.to_owned(),
                why: "no id_token in the token response (is `openid` in scope?)".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// Answers one connection per entry of `answers(base_url)`, then stops listening.
    fn serve(
        answers: impl FnOnce(&str) -> Vec<(u16, String)>,
    ) -> (String, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let bodies = answers(&base);
        let handle = std::thread::spawn(move || {
            for (status, body) in bodies {
                let (mut conn, _) = listener.accept().unwrap();
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (base, handle)
    }

    fn idp(issuer: &str, ttl: Duration) -> Idp {
        Idp::new(
            issuer.to_owned(),
            "client".into(),
            Duration::from_millis(500),
            ttl,
            Duration::from_secs(30),
            Checks {
                algorithms: vec![Algorithm::RS256],
                leeway: 0,
            },
        )
    }

    fn discovery(issuer: &str, extra: &str) -> String {
        format!(
            r#"{{"issuer":"{issuer}","authorization_endpoint":"{issuer}/auth",
"token_endpoint":"{issuer}/token","jwks_uri":"{issuer}/jwks"{extra}}}"#
        )
    }

    #[test]
    fn discovery_is_checked() {
        let (base, server) = serve(|base| {
            vec![
                (200, discovery("https://someone-else", "")),
                (
                    200,
                    discovery(base, r#","code_challenge_methods_supported":["plain"]"#),
                ),
                (200, "not json".into()),
                (500, "{}".into()),
            ]
        });
        let i = idp(&base, Duration::ZERO);
        for expected in [
            "not the configured",
            "PKCE S256",
            "not a discovery document",
            "HTTP 500",
        ] {
            let err = i.metadata().unwrap_err().to_string();
            assert!(err.contains(expected), "{expected:?} not in {err}");
        }
        server.join().unwrap();
    }

    #[test]
    fn discovery_is_cached_and_kept_through_an_outage() {
        // Nothing cached and nothing listening: unreachable.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let nobody = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        assert!(matches!(
            idp(&nobody, Duration::ZERO).metadata(),
            Err(IdpError::Unreachable { .. })
        ));
        // One good answer, then the server is gone.
        let (base, server) = serve(|base| vec![(200, discovery(base, ""))]);
        let cached = idp(&base, Duration::from_secs(3600));
        let first = cached.metadata().unwrap();
        assert_eq!(first.token_endpoint, format!("{base}/token"));
        server.join().unwrap();
        // Within its ttl the document is not fetched again.
        assert_eq!(cached.metadata().unwrap().issuer, base);
        // Past it, a failed refresh keeps the last good document.
        let (base2, server) = serve(|b| vec![(200, discovery(b, ""))]);
        let moved = idp(&base2, Duration::ZERO);
        moved.metadata().unwrap();
        server.join().unwrap();
        assert_eq!(moved.metadata().unwrap().issuer, base2, "stale copy used");
        assert!(
            moved.cached_metadata().is_none(),
            "a stale copy is not fresh"
        );
    }
}
