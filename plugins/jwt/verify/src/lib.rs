//! Verification of JWS compact tokens (JWTs), shared by the `jwt` and `oidc` plugins.
//!
//! A key design decision made in this crate is that **the caller owns the key material and
//! the clock**:
//!
//! - a [`Verifier`] is a plain value (accepted algorithms, an HMAC secret, public keys, claim
//!   rules); a plugin that refreshes keys (the `oidc` plugin fetching a JWKS on rotation)
//!   builds a new one and swaps it, no locking inside;
//! - time is passed to [`Verifier::verify`], so plugins use the host's clock and tests fix it;
//! - `none` is not an [`Algorithm`] at all, HS* is checked only with the secret and RS*/ES256
//!   only with public keys, so key confusion cannot be configured.
//!
//! It is a plain library (not a plugin), so any number of plugin libraries may link it.
#![warn(missing_docs, unreachable_pub)]
#![deny(unsafe_code)]

mod keys;
mod token;

pub use keys::{from_jwks, from_pem, Key, KeyError, PublicKey};
pub use token::{Algorithm, Rejected, Verifier};

#[cfg(test)]
mod pem_tests {
    use super::*;
    use rewho_plugin_api::Value;

    fn testdata(name: &str) -> String {
        // The key files and OpenSSL-signed tokens live with the jwt plugin (testdata/make.sh).
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn pem_verifier(file: &str, alg: Algorithm) -> Verifier {
        Verifier {
            algorithms: vec![alg],
            secret: None,
            keys: vec![Key {
                kid: None,
                alg: None,
                key: from_pem(&testdata(file)).unwrap(),
            }],
            leeway: 0,
            audience: Vec::new(),
            issuer: None,
        }
    }

    /// Tokens OpenSSL signed (testdata/make.sh) verify with the PEM public keys.
    #[test]
    fn openssl_signed_tokens_verify_with_pem_keys() {
        const NOW: i64 = 1_900_000_000;
        let rs = testdata("rs256.openssl.jwt");
        let es = testdata("es256.openssl.jwt");
        for (file, alg, token) in [
            ("rs256.pub.pem", Algorithm::RS256, rs.trim()),
            ("rs256.pkcs1.pub.pem", Algorithm::RS256, rs.trim()),
            ("es256.pub.pem", Algorithm::ES256, es.trim()),
        ] {
            let v = pem_verifier(file, alg);
            let claims = v
                .verify(token, NOW)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(claims.get_str("sub"), Some("openssl-user"));
            assert_eq!(
                claims.get("groups"),
                Some(&Value::from(vec!["a", "b"])),
                "nested claims"
            );
            assert_eq!(v.verify(token, 2_000_000_000), Err(Rejected::Expired));
        }
        // Cross-checks: the RSA token does not verify with the EC key and vice versa.
        let v = pem_verifier("es256.pub.pem", Algorithm::ES256);
        assert!(v.verify(rs.trim(), NOW).is_err());
    }

    #[test]
    fn pem_loading_refuses_private_keys_and_junk() {
        let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(from_pem(private)
            .unwrap_err()
            .to_string()
            .contains("private"));
        assert!(from_pem("hello").is_err());
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(from_pem(cert).is_err());
    }
}
