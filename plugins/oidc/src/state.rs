//! The login's browser binding: a short-lived signed cookie holding the `state` sent to the
//! provider and the page to return to, and the PKCE verifier and `nonce` derived from it.
//!
//! The cookie is `v1.<base64url JSON>.<base64url HMAC-SHA256>`; the MAC covers the plugin id
//! too, so two `oidc` sections sharing a secret cannot take each other's cookies. The PKCE
//! `code_verifier` and the `nonce` are HMACs of the state under the secret: never stored
//! anywhere, so a client that reads its own cookie still cannot redeem an intercepted code.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// What the cookie carries. `Debug` shows no state value.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The `state` parameter sent to the provider (random, 32 bytes base64url).
    #[serde(rename = "s")]
    pub state: String,
    /// The same-site path the user asked for.
    #[serde(rename = "c")]
    pub came_from: String,
    /// When the login attempt expires (seconds since the epoch).
    #[serde(rename = "e")]
    pub expires: i64,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("came_from", &self.came_from)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// Why a state cookie was refused (a log message; never includes the cookie).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadState {
    /// Not `v1.<payload>.<mac>`, or the payload is not ours.
    #[error("malformed state cookie")]
    Malformed,
    /// The MAC does not verify (another secret, another plugin, or tampering).
    #[error("state cookie signature does not verify")]
    Signature,
    /// The login attempt is older than `state_ttl`.
    #[error("state cookie expired (the login took longer than state_ttl)")]
    Expired,
}

/// Signs and checks state cookies for one plugin. `Debug` hides the key.
pub struct Binder {
    secret: Vec<u8>,
    plugin_id: String,
}

impl std::fmt::Debug for Binder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binder")
            .field("plugin_id", &self.plugin_id)
            .finish_non_exhaustive()
    }
}

fn b64(data: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

impl Binder {
    /// A binder with the plugin's `secret`, for plugin `plugin_id`.
    pub fn new(secret: &[u8], plugin_id: &str) -> Self {
        Binder {
            secret: secret.to_vec(),
            plugin_id: plugin_id.to_owned(),
        }
    }

    fn mac(&self, label: &str) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.secret)
            .expect("HMAC takes keys of any length");
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(self.plugin_id.as_bytes());
        mac.update(&[0]);
        mac
    }

    /// A fresh login attempt returning to `came_from`, valid until `expires`.
    pub fn start(&self, came_from: &str, expires: i64) -> Pending {
        let mut state = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut state);
        Pending {
            state: b64(state),
            came_from: came_from.to_owned(),
            expires,
        }
    }

    /// The cookie value for `pending`.
    pub fn seal(&self, pending: &Pending) -> String {
        let payload = b64(serde_json::to_vec(pending).expect("serialisable"));
        let mut mac = self.mac("state-cookie");
        mac.update(payload.as_bytes());
        format!("v1.{payload}.{}", b64(mac.finalize().into_bytes()))
    }

    /// Checks a cookie value (MAC in constant time, then expiry at `now`).
    pub fn open(&self, cookie: &str, now: i64) -> Result<Pending, BadState> {
        let mut parts = cookie.split('.');
        let (Some("v1"), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BadState::Malformed);
        };
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| BadState::Malformed)?;
        let mut mac = self.mac("state-cookie");
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig).map_err(|_| BadState::Signature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| BadState::Malformed)?;
        let pending: Pending = serde_json::from_slice(&json).map_err(|_| BadState::Malformed)?;
        if pending.expires <= now {
            return Err(BadState::Expired);
        }
        Ok(pending)
    }

    fn derive(&self, label: &str, state: &str) -> String {
        let mut mac = self.mac(label);
        mac.update(state.as_bytes());
        b64(mac.finalize().into_bytes())
    }

    /// The PKCE `code_verifier` of a login attempt (43 base64url characters).
    pub fn code_verifier(&self, state: &str) -> String {
        self.derive("pkce-verifier", state)
    }

    /// The PKCE `code_challenge` (`S256`) of a login attempt.
    pub fn code_challenge(&self, state: &str) -> String {
        b64(Sha256::digest(self.code_verifier(state).as_bytes()))
    }

    /// The `nonce` of a login attempt, echoed in the ID token.
    pub fn nonce(&self, state: &str) -> String {
        self.derive("nonce", state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn seal_and_open() {
        let b = Binder::new(b"secret-secret-secret", "corp");
        let p = b.start("/app?x=1", NOW + 600);
        assert_eq!(p.state.len(), 43);
        let cookie = b.seal(&p);
        assert!(cookie
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c)));
        assert_eq!(b.open(&cookie, NOW), Ok(p.clone()));
        assert_eq!(b.open(&cookie, NOW + 600), Err(BadState::Expired));
        // Another plugin id or secret: refused.
        let other = Binder::new(b"secret-secret-secret", "other");
        assert_eq!(other.open(&cookie, NOW), Err(BadState::Signature));
        let other = Binder::new(b"another-secret", "corp");
        assert_eq!(other.open(&cookie, NOW), Err(BadState::Signature));
        // A changed payload (say, another came_from) fails the MAC.
        let evil = b.seal(&Pending {
            came_from: "//evil.example".into(),
            ..p.clone()
        });
        let (_, evil_payload) = evil.split_once('.').unwrap();
        let evil_payload = evil_payload.split('.').next().unwrap();
        let sig = cookie.rsplit('.').next().unwrap();
        assert_eq!(
            b.open(&format!("v1.{evil_payload}.{sig}"), NOW),
            Err(BadState::Signature)
        );
        for junk in ["", "v1", "v2.a.b", "v1.a.b.c", "v1.!!.??"] {
            assert!(b.open(junk, NOW).is_err(), "{junk}");
        }
    }

    #[test]
    fn verifier_and_nonce_are_bound_to_the_state() {
        let b = Binder::new(b"secret-secret-secret", "corp");
        let v = b.code_verifier("s1");
        assert_eq!(v.len(), 43);
        assert_eq!(v, b.code_verifier("s1"));
        assert_ne!(v, b.code_verifier("s2"));
        assert_ne!(b.nonce("s1"), v);
        assert_ne!(
            Binder::new(b"secret-secret-secret", "x").code_verifier("s1"),
            v
        );
        // RFC 7636 appendix B: challenge = BASE64URL(SHA256(verifier)).
        assert_eq!(
            b64(Sha256::digest(
                b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
            )),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(b.code_challenge("s1"), b64(Sha256::digest(v.as_bytes())));
    }
}
