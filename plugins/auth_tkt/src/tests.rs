//! Plugin-level tests: options, identify/authenticate, remember/forget. Expected headers were
//! produced by repoze.who 3.1.0 (`tests/python/authtkt_oracle.py`) at the same fixed time.

use rewho_plugin_api::{
    Authenticator, Environ, HeaderField, Identifier, Identity, LogLevel, Map, Value, USERID_KEY,
};

use crate::ticket::{mint, ClientIp, DigestAlgo};
use crate::{AuthTkt, TICKET_USERID_KEY};
use rewho_plugin_api::testing::{environ, headers, request, TestHost};

const NOW: i64 = 1_700_000_000;

fn build(opts: &[(&str, &str)]) -> (TestHost, AuthTkt) {
    let t = TestHost::at(NOW);
    let p = t.build::<AuthTkt>(opts, "/nonexistent").unwrap();
    (t, p)
}

fn build_err(opts: &[(&str, &str)]) -> String {
    TestHost::at(NOW)
        .build::<AuthTkt>(opts, "/nonexistent")
        .unwrap_err()
        .0
}

fn values(h: &[HeaderField]) -> Vec<&str> {
    h.iter().map(|h| h.value.as_str()).collect()
}

fn ticket(userid: &str, tokens: &[&str], data: &str, ts: u32) -> String {
    mint(
        b"sekrit",
        DigestAlgo::Md5,
        &ClientIp::UNSPECIFIED,
        ts,
        userid,
        tokens,
        data,
    )
    .unwrap()
}

fn identify(p: &AuthTkt, cookie: &str, remote: &str) -> (Option<Identity>, Environ<'static>) {
    let h = headers(&[("Cookie", cookie)]);
    let req = request("example.com", remote, &h);
    let mut env = environ();
    let id = p.identify(&req, &mut env).unwrap();
    (id, env)
}

#[test]
fn options_are_checked() {
    assert!(build_err(&[]).contains("one of `secret` or `secretfile`"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.txt"), "  from-file \n").unwrap();
    let d = dir.path().to_str().unwrap();
    assert!(TestHost::at(NOW)
        .build::<AuthTkt>(&[("secret", "a"), ("secretfile", "s.txt")], d)
        .unwrap_err()
        .0
        .contains("only one"));
    let p = TestHost::at(NOW)
        .build::<AuthTkt>(&[("secretfile", "s.txt")], d)
        .unwrap();
    assert_eq!(p.secret, b"from-file");
    assert!(
        !format!("{p:?}").contains("from-file"),
        "Debug hides the secret"
    );
    let e = TestHost::at(NOW)
        .build::<AuthTkt>(&[("secretfile", "missing.txt")], d)
        .unwrap_err()
        .0;
    assert!(e.contains("missing.txt"), "{e}");
    std::fs::write(dir.path().join("empty.txt"), " \n").unwrap();
    assert!(TestHost::at(NOW)
        .build::<AuthTkt>(&[("secretfile", "empty.txt")], d)
        .is_err());

    assert!(build_err(&[("secret", "s"), ("timeout", "60")]).contains("reissue_time"));
    assert!(
        build_err(&[("secret", "s"), ("timeout", "60"), ("reissue_time", "61")])
            .contains("reissue_time")
    );
    let (_, p) = build(&[("secret", "s"), ("timeout", "60"), ("reissue_time", "60")]);
    assert_eq!((p.timeout, p.reissue_time), (Some(60), Some(60)));
    let (_, p) = build(&[("secret", "s"), ("timeout", "0")]);
    assert_eq!(p.timeout, None, "timeout 0 means none, as in repoze.who");
    assert!(build_err(&[("secret", "s"), ("digest_algo", "whirlpool")]).contains("digest_algo"));
    let (_, p) = build(&[("secret", "s"), ("digest_algo", "SHA512")]);
    assert_eq!(p.algo, DigestAlgo::Sha512);
    assert!(build_err(&[("secret", "s"), ("samesite", "Lax; Domain=x")]).contains("samesite"));
    assert!(
        build_err(&[("secret", "s"), ("userid_checker", "my.mod:check")])
            .contains("userid_checker")
    );
    assert!(build_err(&[("secret", "s"), ("cookie_name", "a;b")]).contains("cookie_name"));
    assert!(build_err(&[("secret", "s"), ("secrett", "x")]).contains("unknown option"));

    let t = TestHost::at(NOW);
    t.build::<AuthTkt>(
        &[("secret", "s"), ("samesite", "None"), ("secure", "false")],
        "/",
    )
    .unwrap();
    assert!(t.logs(LogLevel::Warn)[0].contains("secure"));
}

#[test]
fn identify_reads_a_good_ticket() {
    let (_, p) = build(&[("secret", "sekrit")]);
    let v = ticket("m@x/y", &["admin", "staff"], "foo=123&bar=a+b", 1000);
    let (id, env) = identify(&p, &format!("other=1; auth_tkt=\"{v}\""), "1.2.3.4");
    let id = id.unwrap();
    assert_eq!(id.get("timestamp"), Some(&Value::Int(1000)));
    assert_eq!(id.get_str(TICKET_USERID_KEY), Some("m@x/y"));
    assert_eq!(id.get("tokens"), Some(&Value::from(vec!["admin", "staff"])));
    let ud = id.get("userdata").and_then(Value::as_map).unwrap();
    assert_eq!(ud.get_str("foo"), Some("123"));
    assert_eq!(ud.get_str("bar"), Some("a b"));
    assert_eq!(id.len(), 4);
    assert!(id.get(USERID_KEY).is_none(), "authenticate sets it");
    assert_eq!(
        env.get("REMOTE_USER_TOKENS"),
        Some(&Value::from(vec!["admin", "staff"]))
    );
    assert_eq!(env.get_str("REMOTE_USER_DATA"), Some("foo=123&bar=a+b"));
    assert_eq!(env.get_str("AUTH_TYPE"), Some("cookie"));
}

#[test]
fn identify_types_userids_and_empty_tokens() {
    let (_, p) = build(&[("secret", "sekrit")]);
    let (id, env) = identify(
        &p,
        &format!("auth_tkt={}", ticket("1", &[], "userid_type=int", 5)),
        "",
    );
    let id = id.unwrap();
    assert_eq!(id.get(TICKET_USERID_KEY), Some(&Value::Int(1)));
    assert_eq!(id.get("tokens"), Some(&Value::List(Default::default())));
    assert_eq!(
        env.get("REMOTE_USER_TOKENS"),
        Some(&Value::List(Default::default()))
    );
    for kind in ["unknown", "unicode"] {
        let data = format!("userid_type={kind}");
        let (id, _) = identify(&p, &format!("auth_tkt={}", ticket("1", &[], &data, 5)), "");
        assert_eq!(id.unwrap().get_str(TICKET_USERID_KEY), Some("1"));
    }
    // repoze.who raises ValueError here; we find no identity.
    let (id, _) = identify(
        &p,
        &format!("auth_tkt={}", ticket("bob", &[], "userid_type=int", 5)),
        "",
    );
    assert!(id.is_none());
}

#[test]
fn identify_refuses_bad_missing_and_wrong_cookies() {
    let (_, p) = build(&[("secret", "sekrit")]);
    assert!(identify(&p, "auth_tkt=bogus", "").0.is_none());
    assert!(identify(&p, "auth_tkt=", "").0.is_none());
    assert!(identify(&p, "other=x", "").0.is_none());
    let v = ticket("alice", &[], "", 5);
    assert!(
        identify(&p, &format!("auth_tkt={}", v.replace("alice", "alicf")), "")
            .0
            .is_none()
    );
    let (_, other) = build(&[("secret", "sekrit"), ("digest_algo", "sha256")]);
    assert!(identify(&other, &format!("auth_tkt={v}"), "").0.is_none());
    let (_, renamed) = build(&[("secret", "sekrit"), ("cookie_name", "tkt")]);
    assert!(identify(&renamed, &format!("auth_tkt={v}"), "").0.is_none());
    assert!(identify(&renamed, &format!("tkt={v}"), "").0.is_some());
    // Several cookies of the same name: the first valid one wins.
    let (id, _) = identify(&p, &format!("auth_tkt=bogus; auth_tkt={v}"), "");
    assert_eq!(id.unwrap().get_str(TICKET_USERID_KEY), Some("alice"));
}

#[test]
fn timeout_uses_the_host_clock() {
    let (host, p) = build(&[
        ("secret", "sekrit"),
        ("timeout", "60"),
        ("reissue_time", "10"),
    ]);
    let v = format!("auth_tkt={}", ticket("alice", &[], "", NOW as u32));
    host.set_now(NOW + 60, 0);
    assert!(
        identify(&p, &v, "").0.is_some(),
        "timestamp + timeout == now is still valid"
    );
    host.set_now(NOW + 60, 1);
    assert!(
        identify(&p, &v, "").0.is_none(),
        "repoze compares with the float time"
    );
    host.set_now(NOW + 3600, 0);
    assert!(identify(&p, &v, "").0.is_none());
    // An expired first cookie does not hide a fresh second one.
    let fresh = ticket("bob", &[], "", (NOW + 3600) as u32);
    let (id, _) = identify(&p, &format!("{v}; auth_tkt={fresh}"), "");
    assert_eq!(id.unwrap().get_str(TICKET_USERID_KEY), Some("bob"));
}

#[test]
fn include_ip_binds_v4_and_v6_clients() {
    let (_, p) = build(&[("secret", "sekrit"), ("include_ip", "true")]);
    let h = headers(&[]);
    for (addr, other) in [
        ("10.0.0.1", "10.0.0.2"),
        ("2001:db8::1", "2001:db8::2"),
        ("::ffff:10.0.0.1", "10.0.0.2"),
    ] {
        let req = request("example.com", addr, &h);
        let out = p
            .remember(&req, &mut environ(), &userid_identity("alice"))
            .unwrap();
        let cookie = cookie_value(&out[0]);
        assert!(
            identify(&p, &format!("auth_tkt={cookie}"), addr)
                .0
                .is_some(),
            "{addr}"
        );
        assert!(
            identify(&p, &format!("auth_tkt={cookie}"), other)
                .0
                .is_none(),
            "{other}"
        );
    }
    // The mapped form signs like the plain IPv4 address (and so like repoze.who).
    let req = request("example.com", "::ffff:10.0.0.1", &h);
    let out = p
        .remember(&req, &mut environ(), &userid_identity("alice"))
        .unwrap();
    assert!(identify(
        &p,
        &format!("auth_tkt={}", cookie_value(&out[0])),
        "10.0.0.1"
    )
    .0
    .is_some());
    // Unknown client address: no identity, and remember says why.
    let v = ticket("alice", &[], "", 5);
    assert!(identify(&p, &format!("auth_tkt={v}"), "").0.is_none());
    let req = request("example.com", "", &h);
    assert!(p
        .remember(&req, &mut environ(), &userid_identity("alice"))
        .is_err());
}

#[test]
fn authenticate_accepts_only_ticket_identities() {
    let (_, p) = build(&[("secret", "sekrit")]);
    let h = headers(&[]);
    let req = request("example.com", "", &h);
    let mut env = environ();
    let mut foreign: Identity = [("login", "alice"), ("password", "x")]
        .into_iter()
        .collect();
    assert_eq!(p.authenticate(&req, &mut env, &mut foreign).unwrap(), None);
    let mut id = Map::new();
    id.insert(TICKET_USERID_KEY, 0i64);
    assert_eq!(
        p.authenticate(&req, &mut env, &mut id).unwrap(),
        Some(Value::Int(0))
    );
    assert_eq!(id.get(USERID_KEY), Some(&Value::Int(0)));
    let mut id = Map::new();
    id.insert(TICKET_USERID_KEY, "");
    assert_eq!(
        p.authenticate(&req, &mut env, &mut id).unwrap(),
        Some(Value::from("")),
        "the empty string is a user id"
    );
}

fn userid_identity(userid: impl Into<Value>) -> Identity {
    let mut id = Map::new();
    id.insert(USERID_KEY, userid);
    id
}

fn cookie_value(h: &HeaderField) -> String {
    let v = h.value.as_str();
    let start = v.find('"').unwrap() + 1;
    let end = start + v[start..].find('"').unwrap();
    v[start..end].to_owned()
}

#[test]
fn remember_matches_repoze_headers() {
    // repoze.who sends HttpOnly only with `secure` and no SameSite; rewho by default always.
    let (_, p) = build(&[
        ("secret", "sekrit"),
        ("httponly", "false"),
        ("samesite", ""),
    ]);
    let h = headers(&[]);
    let req = request("example.com:8080", "1.2.3.4", &h);
    let out = p
        .remember(&req, &mut environ(), &userid_identity("alice"))
        .unwrap();
    assert_eq!(
        values(&out),
        [
            "auth_tkt=\"ffe14f1ec7c850ab84f05ddef359ff276553f100alice!\"; Path=/",
            "auth_tkt=\"ffe14f1ec7c850ab84f05ddef359ff276553f100alice!\"; Path=/; Domain=example.com",
            "auth_tkt=\"ffe14f1ec7c850ab84f05ddef359ff276553f100alice!\"; Path=/; Domain=.example.com",
        ]
    );
    assert!(out.iter().all(|h| h.name.as_str() == "Set-Cookie"));

    let (_, p) = build(&[
        ("secret", "sekrit"),
        ("secure", "true"),
        ("samesite", "Lax"),
        ("digest_algo", "sha256"),
    ]);
    let req = request("example.com", "1.2.3.4", &h);
    let mut id = userid_identity(42i64);
    id.insert("tokens", vec!["admin", "x"]);
    let mut ud = Map::new();
    ud.insert("a", "b c");
    id.insert("userdata", ud);
    id.insert("max_age", "3600");
    let out = p.remember(&req, &mut environ(), &id).unwrap();
    let v = "auth_tkt=\"cb93c1088bc68c03d972a9cda386ab8a54d3a634024b3c22c2d9e1dfdd20af9e6553f10042!admin,x!a=b+c&userid_type=int\"; Path=/";
    let tail =
        "; Max-Age=3600; Expires=Tue, 14 Nov 2023 23:13:20 GMT; secure; HttpOnly; SameSite=Lax";
    assert_eq!(
        values(&out),
        [
            format!("{v}{tail}"),
            format!("{v}; Domain=example.com{tail}"),
            format!("{v}; Domain=.example.com{tail}"),
        ]
    );
}

#[test]
fn forget_matches_repoze_headers() {
    let (_, p) = build(&[
        ("secret", "sekrit"),
        ("httponly", "false"),
        ("samesite", ""),
    ]);
    let h = headers(&[]);
    let req = request("localhost", "", &h);
    let out = p.forget(&req, &mut environ(), &Map::new()).unwrap();
    assert_eq!(
        values(&out),
        [
            "auth_tkt=\"INVALID\"; Path=/; Max-Age=0; Expires=Tue, 14 Nov 2023 22:13:20 GMT",
            "auth_tkt=\"INVALID\"; Path=/; Domain=localhost; Max-Age=0; Expires=Tue, 14 Nov 2023 22:13:20 GMT",
            "auth_tkt=\"INVALID\"; Path=/; Domain=.localhost; Max-Age=0; Expires=Tue, 14 Nov 2023 22:13:20 GMT",
        ]
    );
}

#[test]
fn cookies_are_httponly_by_default() {
    let (_, p) = build(&[("secret", "s")]);
    let h = headers(&[]);
    let req = request("h", "", &h);
    let out = p
        .remember(&req, &mut environ(), &userid_identity("alice"))
        .unwrap();
    assert!(!out.is_empty());
    for c in values(&out) {
        assert!(c.ends_with("; HttpOnly; SameSite=Lax"), "{c}");
        assert!(!c.contains("secure"), "{c}");
    }
}

#[test]
fn cookies_are_secure_when_the_request_came_over_https_unless_told() {
    let h = headers(&[]);
    for (opts, scheme, secure) in [
        (&[("secret", "s")][..], "https", true),
        (&[("secret", "s")][..], "http", false),
        (&[("secret", "s"), ("secure", "false")][..], "https", false),
        (&[("secret", "s"), ("secure", "true")][..], "http", true),
    ] {
        let (_, p) = build(opts);
        let req = rewho_plugin_api::testing::view(rewho_plugin_api::state::RequestParts {
            method: "GET",
            scheme,
            host: "h",
            path: "/path",
            query: "x=1",
            peer_addr: "",
            client_addr: "",
            headers: &h,
        });
        let out = p
            .remember(&req, &mut environ(), &userid_identity("alice"))
            .unwrap();
        for c in values(&out) {
            assert_eq!(c.contains("; secure"), secure, "{opts:?} {scheme}: {c}");
        }
    }
}

#[test]
fn tickets_dated_beyond_the_clock_skew_are_refused() {
    for (skew_opt, ahead, accepted) in [
        (None, 30, true),
        (None, 61, false),
        (None, 10 * 365 * 86400, false),
        (Some("600"), 300, true),
    ] {
        let mut opts = vec![("secret", "sekrit")];
        if let Some(s) = skew_opt {
            opts.push(("max_clock_skew", s));
        }
        let (_, p) = build(&opts);
        let cookie = ticket("alice", &[], "", NOW as u32 + ahead);
        let (id, _) = identify(&p, &format!("auth_tkt={cookie}"), "");
        assert_eq!(id.is_some(), accepted, "{skew_opt:?} +{ahead}s");
    }
}

#[test]
fn httponly_can_be_set_apart_from_secure() {
    let (_, p) = build(&[("secret", "s"), ("httponly", "true"), ("samesite", "")]);
    let h = headers(&[]);
    let req = request("h", "", &h);
    let out = p.forget(&req, &mut environ(), &Map::new()).unwrap();
    assert!(out[0].value.as_str().ends_with("GMT; HttpOnly"));
    let (_, p) = build(&[
        ("secret", "s"),
        ("secure", "yes"),
        ("httponly", "false"),
        ("samesite", ""),
    ]);
    let out = p.forget(&req, &mut environ(), &Map::new()).unwrap();
    assert!(out[0].value.as_str().ends_with("GMT; secure"));
}

/// Runs identify → authenticate → remember on a request carrying `cookie`, at `now`.
fn round(p: &AuthTkt, cookie: &str, identity: Option<Identity>) -> Vec<HeaderField> {
    let h = headers(&[("Cookie", cookie)]);
    let req = request("example.com", "1.2.3.4", &h);
    let mut env = environ();
    let identity = match identity {
        Some(id) => id,
        None => {
            let mut id = p.identify(&req, &mut env).unwrap().unwrap();
            p.authenticate(&req, &mut env, &mut id).unwrap().unwrap();
            id
        }
    };
    p.remember(&req, &mut env, &identity).unwrap()
}

#[test]
fn remember_skips_unchanged_tickets() {
    let (host, p) = build(&[("secret", "sekrit")]);
    let v = format!(
        "auth_tkt={}",
        ticket("alice", &["a"], "k=v", (NOW - 10) as u32)
    );
    assert!(
        round(&p, &v, None).is_empty(),
        "same identity: no new cookie"
    );
    // Different tokens, user data or user: a new ticket.
    let mut id = userid_identity("alice");
    id.insert("tokens", vec!["b"]);
    assert_eq!(round(&p, &v, Some(id)).len(), 3);
    assert_eq!(round(&p, &v, Some(userid_identity("bob"))).len(), 3);
    // No reissue_time: old tickets stay.
    host.set_now(NOW + 100_000, 0);
    assert!(round(&p, &v, None).is_empty());
}

#[test]
fn remember_knows_every_spelling_of_the_signed_tokens() {
    let (_, p) = build(&[("secret", "sekrit")]);
    let two = format!("auth_tkt={}", ticket("alice", &["a", "b"], "", 1));
    let with = |tokens: Value| {
        let mut id = userid_identity("alice");
        id.insert("tokens", tokens);
        id
    };
    let list = |t: &[&str]| Value::List(t.iter().map(|s| Value::from(*s)).collect());
    for same in [with("a,b".into()), with(list(&["a", "b"]))] {
        assert!(round(&p, &two, Some(same)).is_empty());
    }
    for changed in [
        with("a".into()),
        with("a,b,c".into()),
        with(list(&["a"])),
        with(list(&["a", "b", "c"])),
        with(list(&["b", "a"])),
        with(list(&[])),
        userid_identity("alice"),
        userid_identity("bob"),
    ] {
        assert_eq!(
            round(&p, &two, Some(changed.clone())).len(),
            3,
            "{changed:?}"
        );
    }
    // User data the ticket did not sign, and the same user data: worked out in full.
    let mut data = with("a,b".into());
    let mut m = Map::new();
    m.insert("k", "v");
    data.insert("userdata", m);
    assert_eq!(round(&p, &two, Some(data.clone())).len(), 3);
    let signed = format!("auth_tkt={}", ticket("alice", &["a", "b"], "k=v", 1));
    assert!(round(&p, &signed, Some(data)).is_empty());
}

#[test]
fn no_remint_for_tickets_without_tokens() {
    // repoze.who compares ('',) with () here and re-mints on every response.
    let (host, p) = build(&[("secret", "sekrit")]);
    let v = format!("auth_tkt={}", ticket("alice", &[], "", (NOW - 10) as u32));
    host.set_now(NOW + 5, 0);
    assert!(round(&p, &v, Some(userid_identity("alice"))).is_empty());
    let mut id = userid_identity("alice");
    id.insert("tokens", Value::List(Default::default()));
    assert!(round(&p, &v, Some(id)).is_empty());
    assert!(round(&p, &v, None).is_empty());
    // Integer user ids round-trip too.
    let v = format!(
        "auth_tkt={}",
        ticket("7", &[], "userid_type=int", (NOW - 10) as u32)
    );
    assert!(round(&p, &v, None).is_empty());
    assert!(round(&p, &v, Some(userid_identity(7i64))).is_empty());
}

#[test]
fn reissue_time_re_mints_old_tickets() {
    let (host, p) = build(&[
        ("secret", "sekrit"),
        ("timeout", "600"),
        ("reissue_time", "60"),
    ]);
    let v = format!("auth_tkt={}", ticket("alice", &[], "", NOW as u32));
    host.set_now(NOW + 60, 0);
    assert!(round(&p, &v, None).is_empty());
    host.set_now(NOW + 61, 0);
    let out = round(&p, &v, None);
    assert_eq!(out.len(), 3);
    let fresh = cookie_value(&out[0]);
    assert_eq!(fresh, ticket("alice", &[], "", (NOW + 61) as u32));
    assert!(round(&p, &format!("auth_tkt={fresh}"), None).is_empty());
}

#[test]
fn remember_refuses_what_repoze_refuses() {
    let (_, p) = build(&[("secret", "sekrit")]);
    let h = headers(&[]);
    let req = request("example.com", "", &h);
    let mut env = environ();
    assert!(p.remember(&req, &mut env, &userid_identity("a!b")).is_err());
    let mut id = userid_identity("a");
    id.insert("tokens", vec!["x,y"]);
    assert!(p.remember(&req, &mut env, &id).is_err());
    assert!(p.remember(&req, &mut env, &userid_identity(true)).is_err());
    // No user id: nothing to remember.
    assert!(p.remember(&req, &mut env, &Map::new()).unwrap().is_empty());
    // A forged Host header gets only the domain-less cookie.
    let req = request("evil; Domain=x", "", &h);
    assert_eq!(
        p.remember(&req, &mut env, &userid_identity("a"))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn py_int_follows_python() {
    use crate::py_int;
    assert_eq!(py_int(" +4_2\n"), Some(42));
    assert_eq!(py_int("-7"), Some(-7));
    assert_eq!(py_int("0"), Some(0));
    assert_eq!(py_int("-9223372036854775808"), Some(i64::MIN));
    for bad in [
        "",
        "-",
        "4__2",
        "_4",
        "4_",
        "0x10",
        "1.0",
        "9223372036854775808",
    ] {
        assert_eq!(py_int(bad), None, "{bad}");
    }
}
