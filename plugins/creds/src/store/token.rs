//! Tokens and their hashes, exactly as fixie-creds computes them.
//!
//! A token is the lowercase hex of `nbytes` random bytes. Its stored hash is the SHA-256 of
//! the token's *integer value* written as `nbytes` little-endian bytes, which is what
//! Python's `int(token, 16).to_bytes(nbytes, 'little')` gives: the token's bytes reversed.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// The longest token [`hash_token`] looks at; longer input is refused without parsing.
/// (Python accepts any number of leading zeros; nobody sends kilobytes of them.)
pub const MAX_TOKEN_LEN: usize = 1024;

/// A freshly issued token. Its `Debug` is redacted, and it has no `Display`, so it cannot
/// reach a log line by accident: print [`Token::as_str`] only where the user asked for it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// `nbytes` bytes from the operating system's CSPRNG, as lowercase hex (`2 * nbytes`
    /// characters: unlike fixie-creds, leading zeros are kept, so every token has the same
    /// length; both forms hash alike).
    pub fn generate(nbytes: usize) -> (Token, [u8; 32]) {
        let mut bytes = vec![0u8; nbytes];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = to_hex(&bytes);
        bytes.reverse();
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        bytes.iter_mut().for_each(|b| *b = 0);
        (Token(token), hash)
    }

    /// The token text, to hand to its user.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token text, by value.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// fixie-creds' `hash_token`: the SHA-256 of `token`'s value as `nbytes` little-endian bytes.
///
/// `None` when `token` is not a hex number that fits in `nbytes` bytes: empty, a non-hex
/// character, longer than [`MAX_TOKEN_LEN`], or too large (where Python raises
/// `ValueError` / `OverflowError`). Leading zeros and upper-case digits are accepted, as
/// Python's `int(token, 16)` accepts them; Python's other `int` leniencies (`0x`, `_`,
/// surrounding blanks, a sign) are not, as fixie-creds' own HTTP schema refuses them.
pub fn hash_token(token: &str, nbytes: usize) -> Option<[u8; 32]> {
    let digits = token.as_bytes();
    if digits.is_empty() || digits.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut le = vec![0u8; nbytes];
    for (k, &d) in digits.iter().rev().enumerate() {
        let v = hex_value(d)?;
        match le.get_mut(k / 2) {
            Some(byte) => *byte |= if k % 2 == 0 { v } else { v << 4 },
            None if v == 0 => {}
            None => return None,
        }
    }
    Some(Sha256::digest(&le).into())
}

fn hex_value(d: u8) -> Option<u8> {
    match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        b'A'..=b'F' => Some(d - b'A' + 10),
        _ => None,
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Parses 64 lowercase hex digits (a stored `hashed_token`); `None` for anything else,
/// including upper case, which Python's string comparison would never match either.
pub(crate) fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let b = hex.as_bytes();
    if b.len() != 64 || b.iter().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_TOKEN: &str = "46685257bdd640fb06671ad11c80317fa3b1799d";
    const VECTOR_HASH: &str = "897ddb19c14430f6f72fcfd885af7cddf0ffb220ab765df4a1b283c473a69423";

    #[test]
    fn known_vector() {
        assert_eq!(to_hex(&hash_token(VECTOR_TOKEN, 20).unwrap()), VECTOR_HASH);
        // Upper case and leading zeros are the same integer.
        let upper = VECTOR_TOKEN.to_uppercase();
        assert_eq!(to_hex(&hash_token(&upper, 20).unwrap()), VECTOR_HASH);
        let padded = format!("0000{VECTOR_TOKEN}");
        assert_eq!(to_hex(&hash_token(&padded, 20).unwrap()), VECTOR_HASH);
    }

    #[test]
    fn short_tokens_are_zero_extended() {
        // Python's hex(getrandbits(160))[2:] drops leading zero nibbles.
        let h1 = hash_token("abc", 20).unwrap();
        let h2 = hash_token(&format!("{:0>40}", "abc"), 20).unwrap();
        assert_eq!(h1, h2);
        let mut le = [0u8; 20];
        le[0] = 0xbc;
        le[1] = 0x0a;
        assert_eq!(h1, <[u8; 32]>::from(Sha256::digest(le)));
    }

    #[test]
    fn malformed_tokens_hash_to_none() {
        for bad in ["", "xyz", "0x12", " 12", "12 ", "1_2", "-1", "+1", "é"] {
            assert_eq!(hash_token(bad, 20), None, "{bad:?}");
        }
        // 21 significant bytes do not fit in 20.
        assert_eq!(hash_token(&format!("1{}", "0".repeat(40)), 20), None);
        assert!(hash_token(&"f".repeat(40), 20).is_some());
        assert_eq!(hash_token(&"0".repeat(MAX_TOKEN_LEN + 1), 20), None);
    }

    #[test]
    fn generated_tokens_hash_like_python() {
        for n in [1, 16, 20, 32] {
            let (t, h) = Token::generate(n);
            assert_eq!(t.as_str().len(), 2 * n);
            assert!(t
                .as_str()
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
            assert_eq!(hash_token(t.as_str(), n), Some(h));
        }
        let (a, _) = Token::generate(20);
        let (b, _) = Token::generate(20);
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "Token(<redacted>)");
    }

    #[test]
    fn digests_parse_only_lowercase_hex() {
        assert_eq!(
            parse_digest(VECTOR_HASH).map(|d| to_hex(&d)).as_deref(),
            Some(VECTOR_HASH)
        );
        assert_eq!(parse_digest(&VECTOR_HASH.to_uppercase()), None);
        assert_eq!(parse_digest(&VECTOR_HASH[1..]), None);
        assert_eq!(parse_digest(&"g".repeat(64)), None);
    }
}
