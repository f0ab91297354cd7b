//! Digest and token comparisons have no measurable early exit.
//!
//! Method: for each check, two forgeries that differ from the real value only in the
//! *first* or only in the *last* byte of the compared digest are timed in many interleaved
//! rounds (the order alternates every round, so machine noise and frequency drift hit both
//! alike), and the medians must agree within a tolerance. A real early exit is systematic,
//! so the test takes the best of three attempts: noise on a loaded CI machine can spoil one
//! attempt, a leak spoils all three.
//!
//! What this can and cannot see: at the comparison itself (`constant_time_eq` on 64 KiB, where
//! an early exit would save microseconds) the harness is shown to have the power to detect
//! one — the same harness on `==` must find the difference. Through a whole plugin call the
//! compared digests are 16–64 bytes and an early exit would save nanoseconds against
//! microseconds of hashing, so those tests bound the leak (no difference above the tolerance)
//! rather than prove its absence; that the plugins compare with `constant_time_eq` (or
//! RustCrypto's `verify_slice`, which uses `subtle`) is what makes it absent.
#![cfg(feature = "server")]

mod common;

use std::hint::black_box;
use std::time::Instant;

use rewho::{ApiFactory, OwnedRequest};
use sha2::{Digest, Sha256};

/// Median nanoseconds per call of `a` and of `b` over `rounds` interleaved rounds of
/// `iters` calls each.
fn interleaved_medians(
    rounds: usize,
    iters: usize,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
) -> (f64, f64) {
    let mut ta = Vec::with_capacity(rounds);
    let mut tb = Vec::with_capacity(rounds);
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        start.elapsed().as_nanos() as f64 / iters as f64
    };
    // Warm up caches and branch predictors for both.
    time(&mut a);
    time(&mut b);
    for round in 0..rounds {
        if round % 2 == 0 {
            ta.push(time(&mut a));
            tb.push(time(&mut b));
        } else {
            tb.push(time(&mut b));
            ta.push(time(&mut a));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut ta), median(&mut tb))
}

/// `|a - b| / min(a, b)`.
fn relative_difference((a, b): (f64, f64)) -> f64 {
    (a - b).abs() / a.min(b).max(1e-9)
}

/// Best of three attempts: the smallest relative difference between the medians.
fn best_of_three(mut attempt: impl FnMut() -> (f64, f64)) -> (f64, (f64, f64)) {
    let mut best = (f64::INFINITY, (0.0, 0.0));
    for _ in 0..3 {
        let m = attempt();
        let d = relative_difference(m);
        if d < best.0 {
            best = (d, m);
        }
        if d < 0.02 {
            break;
        }
    }
    best
}

/// Asserts that forgeries wrong in the first and in the last byte cost the same within
/// `tolerance` (relative).
fn assert_no_early_exit(
    what: &str,
    tolerance: f64,
    rounds: usize,
    iters: usize,
    mut first_wrong: impl FnMut(),
    mut last_wrong: impl FnMut(),
) {
    let (d, (a, b)) =
        best_of_three(|| interleaved_medians(rounds, iters, &mut first_wrong, &mut last_wrong));
    eprintln!(
        "{what}: first byte wrong {a:.0} ns, last byte wrong {b:.0} ns ({:.1}%)",
        d * 100.0
    );
    assert!(
        d < tolerance,
        "{what}: a forgery wrong in the first byte takes {a:.0} ns, one wrong in the last \
         {b:.0} ns: {:.1}% apart (tolerance {:.0}%) — an early exit?",
        d * 100.0,
        tolerance * 100.0
    );
}

#[test]
fn constant_time_eq_has_no_early_exit_and_the_harness_can_see_one() {
    const N: usize = 64 * 1024;
    let real = vec![0x5au8; N];
    let mut first = real.clone();
    first[0] ^= 1;
    let mut last = real.clone();
    last[N - 1] ^= 1;

    // The control: `==` (memcmp) stops at the first difference. The harness must see it,
    // or it could not see a leak at all.
    let (a, b) = interleaved_medians(
        51,
        16,
        || {
            black_box(black_box(&first[..]) == black_box(&real[..]));
        },
        || {
            black_box(black_box(&last[..]) == black_box(&real[..]));
        },
    );
    eprintln!("control, == on 64 KiB: first byte wrong {a:.0} ns, last byte wrong {b:.0} ns");
    assert!(
        b > 3.0 * a,
        "the harness cannot see memcmp's early exit ({a:.0} ns vs {b:.0} ns): it proves nothing"
    );

    assert_no_early_exit(
        "constant_time_eq, 64 KiB",
        0.15,
        51,
        2,
        || {
            assert!(!rewho_plugin_api::constant_time_eq(
                black_box(&first),
                black_box(&real)
            ));
        },
        || {
            assert!(!rewho_plugin_api::constant_time_eq(
                black_box(&last),
                black_box(&real)
            ));
        },
    );
}

fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let pad = |x: u8| k.iter().map(|b| b ^ x).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// A factory from who.ini text in a temp folder.
fn factory(text: &str) -> (common::WhoIni, ApiFactory) {
    let ini = common::who_ini(text);
    let f = ApiFactory::from_config_file(&ini.path).unwrap_or_else(|e| panic!("{e}"));
    (ini, f)
}

/// Runs identify + authenticate for a request with one header; returns the user id.
fn authenticate(f: &ApiFactory, header: (&str, &str)) -> Option<String> {
    let mut req = OwnedRequest::get("/");
    req.headers.push((header.0.into(), header.1.into()));
    req.with_view(|view| {
        let mut api = f.api(view);
        api.authenticate()
            .and_then(|i| i.userid().and_then(|u| u.as_str()).map(str::to_owned))
    })
}

#[test]
fn jwt_hmac_signature_check_has_no_measurable_early_exit() {
    common::plugin_so("jwt");
    let (_ini, f) = factory(
        "[plugin:jwt]\nuse = jwt\nsecret = timing-secret\n\
         [identifiers]\nplugins = jwt\n[authenticators]\nplugins = jwt\n",
    );
    let input = format!(
        "{}.{}",
        b64url(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64url(br#"{"sub":"alice"}"#)
    );
    let sig = hmac_sha256(b"timing-secret", input.as_bytes());
    let token = |sig: &[u8]| format!("Bearer {input}.{}", b64url(sig));
    let good = token(&sig);
    assert_eq!(
        authenticate(&f, ("Authorization", &good)).as_deref(),
        Some("alice")
    );
    let (mut first, mut last) = (sig.clone(), sig.clone());
    first[0] ^= 1;
    last[31] ^= 1;
    let (first, last) = (token(&first), token(&last));
    assert_eq!(authenticate(&f, ("Authorization", &first)), None);
    assert_eq!(authenticate(&f, ("Authorization", &last)), None);
    assert_no_early_exit(
        "jwt HS256",
        0.15,
        101,
        20,
        || {
            black_box(authenticate(&f, ("Authorization", &first)));
        },
        || {
            black_box(authenticate(&f, ("Authorization", &last)));
        },
    );
}

#[test]
fn auth_tkt_digest_check_has_no_measurable_early_exit() {
    common::plugin_so("auth_tkt");
    let (_ini, f) = factory(
        "[plugin:auth_tkt]\nuse = auth_tkt\nsecret = timing-secret\n\
         [identifiers]\nplugins = auth_tkt\n[authenticators]\nplugins = auth_tkt\n",
    );
    // md5 digest of ip 0.0.0.0, time 0x6553f100, user alice, as repoze.who mints it.
    let ts = 0x6553_f100u32;
    let mut inner = md5_hex(
        &[
            &[0u8; 4][..],
            &ts.to_be_bytes(),
            b"timing-secret",
            b"alice",
            b"\0",
            b"\0",
        ]
        .concat(),
    );
    inner.push_str("timing-secret");
    let digest = md5_hex(inner.as_bytes());
    let cookie = |d: &str| format!("auth_tkt=\"{d}{ts:08x}alice!\"");
    assert_eq!(
        authenticate(&f, ("Cookie", &cookie(&digest))).as_deref(),
        Some("alice"),
        "the test mints a valid ticket"
    );
    let flip = |i: usize| {
        let mut d = digest.clone().into_bytes();
        d[i] = if d[i] == b'0' { b'1' } else { b'0' };
        cookie(std::str::from_utf8(&d).unwrap())
    };
    let (first, last) = (flip(0), flip(31));
    assert_eq!(authenticate(&f, ("Cookie", &first)), None);
    assert_eq!(authenticate(&f, ("Cookie", &last)), None);
    assert_no_early_exit(
        "auth_tkt md5 digest",
        0.15,
        101,
        20,
        || {
            black_box(authenticate(&f, ("Cookie", &first)));
        },
        || {
            black_box(authenticate(&f, ("Cookie", &last)));
        },
    );
}

/// MD5 as lower-case hex, written out here so the test does not trust the plugin's code.
fn md5_hex(data: &[u8]) -> String {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32)
        .collect();
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_le_bytes());
    let mut h: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    for block in msg.chunks(64) {
        let m: Vec<u32> = block
            .chunks(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter()
        .flat_map(|x| x.to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn itsdangerous_session_signature_check_has_no_measurable_early_exit() {
    common::plugin_so("redis_session");
    // Nothing listens on the Redis port: a signature that fails is refused before Redis is
    // asked, so only the signature check is timed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_ini, f) = factory(&format!(
        "[plugin:s]\nuse = redis_session\nsecret_key = timing-secret\n\
         redis_url = redis://127.0.0.1:{port}/0\nredis_timeout = 0.2\n\
         [identifiers]\nplugins = s\n"
    ));
    // itsdangerous: key = sha256(salt + "signer" + secret), sig = HMAC-SHA256(key, value).
    let value = "6f1c2a9e-0000-4000-8000-000000000001";
    let key = Sha256::new()
        .chain_update(b"itsdangerous.Signer")
        .chain_update(b"signer")
        .chain_update(b"timing-secret")
        .finalize();
    let sig = hmac_sha256(&key, value.as_bytes());
    let cookie = |sig: &[u8]| format!("session_uuid={value}.{}", b64url(sig));
    let (mut first, mut last) = (sig.clone(), sig.clone());
    first[0] ^= 1;
    last[31] ^= 1;
    let (first, last) = (cookie(&first), cookie(&last));
    assert_no_early_exit(
        "itsdangerous HMAC-SHA256",
        0.15,
        101,
        20,
        || {
            black_box(authenticate(&f, ("Cookie", &first)));
        },
        || {
            black_box(authenticate(&f, ("Cookie", &last)));
        },
    );
}

#[test]
fn creds_token_check_has_no_measurable_early_exit() {
    use rewho_plugin_creds::store::{CredsStore, RegisterOutcome, StoreOptions, VerifyOutcome};
    let dir = tempfile::tempdir().unwrap();
    let store = CredsStore::open(dir.path(), StoreOptions::default()).unwrap();
    let RegisterOutcome::Registered { token, .. } =
        store.register("alice", "a@example.org").unwrap()
    else {
        panic!("alice is new");
    };
    let token = token.into_string();
    assert!(matches!(
        store.verify("alice", &token).unwrap(),
        VerifyOutcome::Verified { .. }
    ));
    let flip = |i: usize| {
        let mut t = token.clone().into_bytes();
        t[i] = if t[i] == b'a' { b'b' } else { b'a' };
        String::from_utf8(t).unwrap()
    };
    let (first, last) = (flip(0), flip(token.len() - 1));
    assert!(matches!(
        store.verify("alice", &last).unwrap(),
        VerifyOutcome::InvalidToken { .. }
    ));
    assert_no_early_exit(
        "creds token",
        0.15,
        101,
        10,
        || {
            black_box(store.verify("alice", &first).unwrap());
        },
        || {
            black_box(store.verify("alice", &last).unwrap());
        },
    );
}
