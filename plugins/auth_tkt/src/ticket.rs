//! The ticket itself: mod_auth_tkt's format as repoze.who (`repoze.who._auth_tkt`) writes it.
//!
//! ```text
//! cookie value = hex(digest) + "%08x" timestamp + quote(userid) + "!" [+ tokens + "!"] + user_data
//! digest       = H( H(ip + ts_be32 + secret + userid + "\0" + tokens + "\0" + user_data).hex
//!                   + secret ).hex
//! ```
//!
//! `H` is the configured digest (md5 by default), `ip` the client's IPv4 address as four bytes
//! (`0.0.0.0` unless `include_ip`), `userid` the *unquoted* user id in UTF-8 and `tokens` the
//! comma-joined token list. Everything here is pure and allocation-light, so a fuzz target can
//! call [`parse_ticket`] directly.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::IpAddr;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use crate::pyurl;

/// A digest algorithm of `hashlib` that repoze.who's `digest_algo` option can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgo {
    /// `md5`, repoze.who's (and mod_auth_tkt's) default.
    Md5,
    /// `sha1`.
    Sha1,
    /// `sha224`.
    Sha224,
    /// `sha256`.
    Sha256,
    /// `sha384`.
    Sha384,
    /// `sha512`.
    Sha512,
}

impl DigestAlgo {
    /// The algorithm called `name` in `hashlib` (`md5`, `sha256`, …; case-insensitive).
    pub fn from_name(name: &str) -> Option<DigestAlgo> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "md5" => DigestAlgo::Md5,
            "sha1" => DigestAlgo::Sha1,
            "sha224" => DigestAlgo::Sha224,
            "sha256" => DigestAlgo::Sha256,
            "sha384" => DigestAlgo::Sha384,
            "sha512" => DigestAlgo::Sha512,
            _ => return None,
        })
    }

    /// The `hashlib` name.
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgo::Md5 => "md5",
            DigestAlgo::Sha1 => "sha1",
            DigestAlgo::Sha224 => "sha224",
            DigestAlgo::Sha256 => "sha256",
            DigestAlgo::Sha384 => "sha384",
            DigestAlgo::Sha512 => "sha512",
        }
    }

    /// Length of the hex digest at the start of a ticket.
    pub fn hex_len(self) -> usize {
        2 * match self {
            DigestAlgo::Md5 => 16,
            DigestAlgo::Sha1 => 20,
            DigestAlgo::Sha224 => 28,
            DigestAlgo::Sha256 => 32,
            DigestAlgo::Sha384 => 48,
            DigestAlgo::Sha512 => 64,
        }
    }
}

/// The client address as it enters the digest.
///
/// IPv4 is repoze.who's four bytes. IPv6, which repoze.who cannot handle (it calls
/// `int()` on each dot-separated part and fails), contributes its sixteen network-order
/// bytes in the same place; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) counts as the IPv4
/// address, so a dual-stack listener and an IPv4 listener mint the same tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientIp {
    /// An IPv4 address (also what `include_ip = false` uses: `0.0.0.0`).
    V4([u8; 4]),
    /// An IPv6 address.
    V6([u8; 16]),
}

impl ClientIp {
    /// `0.0.0.0`: the address every ticket uses when `include_ip` is off.
    pub const UNSPECIFIED: ClientIp = ClientIp::V4([0; 4]);

    /// Parses a client address (`1.2.3.4`, `::1`, `[::1]`, `fe80::1%eth0`).
    pub fn parse(addr: &str) -> Option<ClientIp> {
        let addr = addr.trim();
        let addr = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let addr = addr.split_once('%').map_or(addr, |(a, _zone)| a);
        match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) => Some(ClientIp::V4(v4.octets())),
            IpAddr::V6(v6) => Some(match v6.to_ipv4_mapped() {
                Some(v4) => ClientIp::V4(v4.octets()),
                None => ClientIp::V6(v6.octets()),
            }),
        }
    }

    /// The bytes that go into the digest.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            ClientIp::V4(b) => b,
            ClientIp::V6(b) => b,
        }
    }
}

/// A lower-case hex digest on the stack (at most sha512's 128 characters).
#[derive(Clone, Copy)]
pub struct HexDigest {
    buf: [u8; 128],
    len: usize,
}

impl HexDigest {
    fn from_bytes(bytes: &[u8]) -> HexDigest {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 128];
        for (i, b) in bytes.iter().enumerate().take(64) {
            buf[2 * i] = HEX[usize::from(b >> 4)];
            buf[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        HexDigest {
            buf,
            len: 2 * bytes.len().min(64),
        }
    }

    /// The hex characters.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The hex characters as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl std::fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HexDigest(<{} chars>)", self.len)
    }
}

fn double_digest<D: Digest>(
    ip: &ClientIp,
    timestamp: u32,
    secret: &[u8],
    userid: &str,
    tokens: &str,
    user_data: &str,
) -> HexDigest {
    let mut inner = D::new();
    inner.update(ip.as_bytes());
    inner.update(timestamp.to_be_bytes());
    inner.update(secret);
    inner.update(userid.as_bytes());
    inner.update([0u8]);
    inner.update(tokens.as_bytes());
    inner.update([0u8]);
    inner.update(user_data.as_bytes());
    let first = HexDigest::from_bytes(&inner.finalize());
    let mut outer = D::new();
    outer.update(first.as_bytes());
    outer.update(secret);
    HexDigest::from_bytes(&outer.finalize())
}

/// repoze.who's `calculate_digest`: the hex digest that starts a ticket.
pub fn calculate_digest(
    algo: DigestAlgo,
    ip: &ClientIp,
    timestamp: u32,
    secret: &[u8],
    userid: &str,
    tokens: &str,
    user_data: &str,
) -> HexDigest {
    let f = match algo {
        DigestAlgo::Md5 => double_digest::<Md5>,
        DigestAlgo::Sha1 => double_digest::<Sha1>,
        DigestAlgo::Sha224 => double_digest::<Sha224>,
        DigestAlgo::Sha256 => double_digest::<Sha256>,
        DigestAlgo::Sha384 => double_digest::<Sha384>,
        DigestAlgo::Sha512 => double_digest::<Sha512>,
    };
    f(ip, timestamp, secret, userid, tokens, user_data)
}

/// Why a ticket was refused. Deliberately vague about digests: callers log it at debug level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadTicket {
    /// Shorter than a digest plus a timestamp, or the timestamp is not 8 hex digits.
    Timestamp,
    /// No `!` after the user id.
    NoSeparator,
    /// The digest does not match (wrong secret, algorithm, address, or tampered fields).
    Digest,
}

impl std::fmt::Display for BadTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BadTicket::Timestamp => "timestamp is not a hex integer",
            BadTicket::NoSeparator => "userid is not followed by !",
            BadTicket::Digest => "digest signature is not correct",
        })
    }
}

impl std::error::Error for BadTicket {}

/// A ticket whose digest checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket<'a> {
    /// Seconds since the epoch when it was minted.
    pub timestamp: u32,
    /// The user id, unquoted (still a string: the `userid_type` in the user data says how to
    /// read it).
    pub userid: Cow<'a, str>,
    /// The comma-joined tokens, as signed (empty when there are none).
    pub tokens: &'a str,
    /// The user data, as signed (url-encoded `key=value` pairs in practice).
    pub user_data: &'a str,
}

impl<'a> Ticket<'a> {
    /// The tokens as a list; empty (not `[""]`, as repoze.who returns) when there are none.
    pub fn token_list(&self) -> Vec<&'a str> {
        if self.tokens.is_empty() {
            Vec::new()
        } else {
            self.tokens.split(',').collect()
        }
    }
}

/// repoze.who's `parse_ticket`: splits `ticket` and checks its digest in constant time.
///
/// Surrounding double quotes are ignored, as repoze.who does.
pub fn parse_ticket<'a>(
    secret: &[u8],
    ticket: &'a str,
    ip: &ClientIp,
    algo: DigestAlgo,
) -> Result<Ticket<'a>, BadTicket> {
    let (digest, t) = split_ticket(ticket, algo)?;
    let expected = calculate_digest(
        algo,
        ip,
        t.timestamp,
        secret,
        &t.userid,
        t.tokens,
        t.user_data,
    );
    if !rewho_plugin_api::constant_time_eq(expected.as_bytes(), digest) {
        return Err(BadTicket::Digest);
    }
    Ok(t)
}

/// The fields of `ticket` and the digest it claims (not checked: see [`parse_ticket`]).
pub fn split_ticket(ticket: &str, algo: DigestAlgo) -> Result<(&[u8], Ticket<'_>), BadTicket> {
    let ticket = ticket.trim_matches('"');
    let n = algo.hex_len();
    let bytes = ticket.as_bytes();
    let ts_hex = bytes.get(n..n + 8).ok_or(BadTicket::Timestamp)?;
    if !ts_hex.iter().all(u8::is_ascii_hexdigit) {
        return Err(BadTicket::Timestamp);
    }
    let timestamp = ts_hex
        .iter()
        .fold(0u32, |acc, &b| acc << 4 | u32::from(hex_digit(b)));
    // Bytes n..n+8 are ASCII, so n+8 is a char boundary; n may not be (non-ASCII digest
    // garbage), which only means the digest cannot match.
    let rest = ticket.get(n + 8..).ok_or(BadTicket::Timestamp)?;
    let (quoted_userid, data) = rest.split_once('!').ok_or(BadTicket::NoSeparator)?;
    let userid = pyurl::unquote(quoted_userid);
    let (tokens, user_data) = data.split_once('!').unwrap_or(("", data));
    Ok((
        &bytes[..n],
        Ticket {
            timestamp,
            userid,
            tokens,
            user_data,
        },
    ))
}

fn hex_digit(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// Why a ticket could not be minted: repoze.who raises `ValueError` for the separators; the
/// rest keeps the `Set-Cookie` header well-formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintError(pub String);

impl std::fmt::Display for MintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MintError {}

/// `true` for characters that may stand inside a quoted cookie value as we write it: visible
/// ASCII and space, except `"`, `\` and `;`.
fn cookie_safe(c: char) -> bool {
    (c == ' ' || c.is_ascii_graphic()) && !matches!(c, '"' | '\\' | ';')
}

/// repoze.who's `AuthTicket(...).cookie_value()`.
///
/// Refuses, as repoze.who does, a `!` in the user id, tokens or user data and a `,` in a
/// token; and, to keep the header well-formed, tokens and user data with control characters,
/// non-ASCII, `"`, `\` or `;` (the user id is percent-encoded, so any user id without `!` is
/// fine).
pub fn mint(
    secret: &[u8],
    algo: DigestAlgo,
    ip: &ClientIp,
    timestamp: u32,
    userid: &str,
    tokens: &[&str],
    user_data: &str,
) -> Result<String, MintError> {
    if userid.contains('!') {
        return Err(MintError("'userid' may not contain '!'".into()));
    }
    for token in tokens {
        if token.contains(',') || token.contains('!') {
            return Err(MintError(
                "'token' values may not contain ',' or '!'".into(),
            ));
        }
        if !token.chars().all(cookie_safe) {
            return Err(MintError(
                "'token' values may hold only printable ASCII without '\"', '\\' or ';'".into(),
            ));
        }
    }
    if user_data.contains('!') {
        return Err(MintError("'user_data' may not contain '!'".into()));
    }
    if !user_data.chars().all(cookie_safe) {
        return Err(MintError(
            "'user_data' may hold only printable ASCII without '\"', '\\' or ';'".into(),
        ));
    }
    let tokens = tokens.join(",");
    let digest = calculate_digest(algo, ip, timestamp, secret, userid, &tokens, user_data);
    let quoted = pyurl::quote(userid);
    let mut v = String::with_capacity(
        digest.as_str().len() + 8 + quoted.len() + tokens.len() + user_data.len() + 2,
    );
    v.push_str(digest.as_str());
    // Writing to a String cannot fail.
    let _ = write!(v, "{timestamp:08x}");
    v.push_str(&quoted);
    v.push('!');
    if !tokens.is_empty() {
        v.push_str(&tokens);
        v.push('!');
    }
    v.push_str(user_data);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"sekrit";

    #[test]
    fn known_md5_ticket_from_repoze() {
        // AuthTicket('sekrit', 'alice', '0.0.0.0', time=1795391129).cookie_value()
        let v = mint(
            SECRET,
            DigestAlgo::Md5,
            &ClientIp::UNSPECIFIED,
            1795391129,
            "alice",
            &[],
            "",
        )
        .unwrap();
        assert_eq!(v, "9a28bae07be629b8688f256e28c455ca6b037e99alice!");
        let t = parse_ticket(SECRET, &v, &ClientIp::UNSPECIFIED, DigestAlgo::Md5).unwrap();
        assert_eq!(t.timestamp, 1795391129);
        assert_eq!(t.userid, "alice");
        assert_eq!(t.tokens, "");
        assert!(t.token_list().is_empty());
        assert_eq!(t.user_data, "");
    }

    #[test]
    fn round_trips_every_field_and_algorithm() {
        let ip = ClientIp::parse("10.1.2.3").unwrap();
        for algo in [
            DigestAlgo::Md5,
            DigestAlgo::Sha1,
            DigestAlgo::Sha224,
            DigestAlgo::Sha256,
            DigestAlgo::Sha384,
            DigestAlgo::Sha512,
        ] {
            let v = mint(
                SECRET,
                algo,
                &ip,
                0x5f00_0001,
                "mé@x/y",
                &["admin", "staff"],
                "a=1&b=2",
            )
            .unwrap();
            assert!(v[algo.hex_len()..].starts_with("5f000001m%C3%A9%40x/y!admin,staff!"));
            let t = parse_ticket(SECRET, &v, &ip, algo).unwrap();
            assert_eq!(t.userid, "mé@x/y");
            assert_eq!(t.token_list(), ["admin", "staff"]);
            assert_eq!(t.user_data, "a=1&b=2");
            // Quoted as a cookie value, too.
            assert!(parse_ticket(SECRET, &format!("\"{v}\""), &ip, algo).is_ok());
        }
    }

    #[test]
    fn refuses_tampering_wrong_secret_ip_and_algorithm() {
        let ip = ClientIp::parse("10.1.2.3").unwrap();
        let v = mint(SECRET, DigestAlgo::Md5, &ip, 1000, "bob", &["a"], "x=1").unwrap();
        let check = |t: &str| parse_ticket(SECRET, t, &ip, DigestAlgo::Md5).map(|_| ());
        assert!(check(&v).is_ok());
        assert_eq!(check(&v.replace("bob", "bop")), Err(BadTicket::Digest));
        assert_eq!(check(&v.replace("!a!", "!b!")), Err(BadTicket::Digest));
        assert_eq!(check(&v.replace("x=1", "x=2")), Err(BadTicket::Digest));
        assert_eq!(
            check(&v.replace("000003e8", "000003e9")),
            Err(BadTicket::Digest)
        );
        let other_ip = ClientIp::parse("10.1.2.4").unwrap();
        assert_eq!(
            parse_ticket(SECRET, &v, &other_ip, DigestAlgo::Md5),
            Err(BadTicket::Digest)
        );
        assert_eq!(
            parse_ticket(b"other", &v, &ip, DigestAlgo::Md5),
            Err(BadTicket::Digest)
        );
        assert!(parse_ticket(SECRET, &v, &ip, DigestAlgo::Sha256).is_err());
        assert_eq!(check("bogus"), Err(BadTicket::Timestamp));
        assert_eq!(check(""), Err(BadTicket::Timestamp));
        assert_eq!(
            check(&format!("{}000003e8bob", &v[..32])),
            Err(BadTicket::NoSeparator)
        );
        assert_eq!(
            check(&format!("{}zzzzzzzzbob!", &v[..32])),
            Err(BadTicket::Timestamp)
        );
        // Non-ASCII in the digest part never panics.
        assert!(check(&format!("é{}", &v[2..])).is_err());
        assert!(check("ééééééééééééééééééééééééééééééééééééééééé!").is_err());
    }

    #[test]
    fn refuses_separators_when_minting() {
        let m = |u: &str, t: &[&str], d: &str| {
            mint(SECRET, DigestAlgo::Md5, &ClientIp::UNSPECIFIED, 1, u, t, d)
        };
        assert!(m("a!b", &[], "").is_err());
        assert!(m("a", &["x,y"], "").is_err());
        assert!(m("a", &["x!y"], "").is_err());
        assert!(m("a", &[], "x!y").is_err());
        assert!(m("a", &["x\r\ny"], "").is_err());
        assert!(m("a", &["x;y"], "").is_err());
        assert!(m("a", &[], "x\"y").is_err());
        assert!(m("a\r\n;\"", &[], "").is_ok(), "user ids are quoted");
    }

    #[test]
    fn ipv6_and_mapped_addresses() {
        assert_eq!(ClientIp::parse("1.2.3.4"), Some(ClientIp::V4([1, 2, 3, 4])));
        assert_eq!(
            ClientIp::parse("::ffff:1.2.3.4"),
            Some(ClientIp::V4([1, 2, 3, 4]))
        );
        let mut lo = [0u8; 16];
        lo[15] = 1;
        assert_eq!(ClientIp::parse("::1"), Some(ClientIp::V6(lo)));
        assert_eq!(ClientIp::parse("[::1]"), Some(ClientIp::V6(lo)));
        assert!(matches!(
            ClientIp::parse("fe80::1%eth0"),
            Some(ClientIp::V6(_))
        ));
        assert_eq!(ClientIp::parse(""), None);
        assert_eq!(ClientIp::parse("1.2.3.256"), None);

        let v6 = ClientIp::parse("2001:db8::7").unwrap();
        let v = mint(SECRET, DigestAlgo::Md5, &v6, 5, "u", &[], "").unwrap();
        assert!(parse_ticket(SECRET, &v, &v6, DigestAlgo::Md5).is_ok());
        let other = ClientIp::parse("2001:db8::8").unwrap();
        assert!(parse_ticket(SECRET, &v, &other, DigestAlgo::Md5).is_err());
        assert!(parse_ticket(SECRET, &v, &ClientIp::UNSPECIFIED, DigestAlgo::Md5).is_err());
    }
}
