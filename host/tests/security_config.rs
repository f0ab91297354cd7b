//! Config safety of `rewho serve`, tried from a client that is not on loopback (issue 19,
//! rows 10, 11, 12 and 15): the published demo secret on a public address, the metrics
//! endpoint, a reload to an empty config, auth_tkt tickets dated in the future. Each test
//! makes its own network namespace ([`NetNs`]); each reproduces what got through before.
#![cfg(feature = "server")]

mod common;
mod listen_support;
mod serve_support;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use listen_support::{exchange, Listening};
use rewho_plugin_auth_tkt::ticket::{mint, ClientIp, DigestAlgo};
use serve_support::netns::NetNs;
use serve_support::{basic, demo_who_ini, free_port, standard_ini, STANDARD_SECRET};

fn get(stream: TcpStream, path: &str, extra: &str) -> String {
    exchange(
        stream,
        &format!("GET {path} HTTP/1.1\r\nHost: app.test\r\n{extra}Connection: close\r\n\r\n"),
        Duration::from_secs(30),
    )
}

/// Row 10: the repository's who.ini (whose auth_tkt secret is published) served on an
/// address other hosts reach: a ticket forged with that secret got a 200. Now rewho refuses
/// to start, naming the option and the file.
#[test]
fn the_demo_secret_is_refused_on_a_public_address_and_allowed_on_loopback() {
    serve_support::require_standard_plugins();
    let ns = NetNs::create("demo-secret");
    let listen = SocketAddr::from((ns.host_ip(), free_port()));
    let out = Command::new(env!("CARGO_BIN_EXE_rewho"))
        .args(["serve", "--listen", &listen.to_string(), "--config"])
        .arg(demo_who_ini())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "refused: {err}");
    assert!(
        err.contains("who.ini:")
            && err.contains("`secret`")
            && err.contains("demo secret")
            && err.contains(&listen.to_string()),
        "{err}"
    );
    // Nothing listens there: the namespace's client gets no answer.
    assert!(ns.connect(listen).is_err());
    // On loopback the demo still runs.
    let demo = serve_support::Rewho::start(&["--config", demo_who_ini().to_str().unwrap()]);
    assert!(demo.wait_for_log("listening on http://127.0.0.1:", Duration::from_secs(5)));
}

/// Row 11: `/_rewho/metrics` answered anyone (plugin names, failure counts, latencies).
#[test]
fn metrics_answer_loopback_and_trusted_proxies_only_unless_metrics_allow_says_otherwise() {
    let ns = NetNs::create("metrics");
    let ini = standard_ini(&[("alice", "wonderland")], "");
    let server = Listening::start(Ipv4Addr::UNSPECIFIED, &ini.path, 1024, &[]);
    let public = SocketAddr::from((ns.host_ip(), server.addr.port()));
    let from_ns = get(ns.connect(public).unwrap(), "/_rewho/metrics", "");
    assert!(from_ns.starts_with("HTTP/1.1 403"), "{from_ns}");
    assert!(!from_ns.contains("rewho_plugin_calls_total"), "{from_ns}");
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, server.addr.port()));
    let from_lo = get(TcpStream::connect(local).unwrap(), "/_rewho/metrics", "");
    assert!(from_lo.starts_with("HTTP/1.1 200"), "{from_lo}");
    assert!(from_lo.contains("rewho_plugin_calls_total"), "{from_lo}");
    drop(server);

    // A trusted proxy's address may read them; so may anyone with `metrics_allow = any`.
    for general in [
        format!("trusted_proxies = {}", ns.ns_ip()),
        "metrics_allow = any".to_owned(),
    ] {
        let ini = standard_ini(&[("alice", "wonderland")], &general);
        let server = Listening::start(ns.host_ip(), &ini.path, 1024, &[]);
        let answer = get(ns.connect(server.addr).unwrap(), "/_rewho/metrics", "");
        assert!(answer.starts_with("HTTP/1.1 200"), "{general}: {answer}");
    }
}

/// Row 12: a reload to a config without authenticators was accepted, and every request was
/// refused afterwards. Now it is refused like a broken config; the old one keeps serving.
#[test]
fn a_reload_to_a_config_without_identifiers_or_authenticators_is_refused() {
    let ns = NetNs::create("empty-reload");
    let ini = standard_ini(&[("alice", "wonderland")], "");
    let server = Listening::start(ns.host_ip(), &ini.path, 1024, &[]);
    let alice = format!("Authorization: {}\r\n", basic("alice", "wonderland"));
    let ok = |server: &Listening| {
        get(ns.connect(server.addr).unwrap(), "/_rewho/auth", &alice).starts_with("HTTP/1.1 200")
    };
    assert!(ok(&server));
    let good = std::fs::read_to_string(&ini.path).unwrap();
    for (n, section) in ["[authenticators]", "[identifiers]"].iter().enumerate() {
        // The section's plugin list emptied: a config that builds, but lets nobody in.
        let start = good.find(section).unwrap();
        let end = good[start..].find("\n\n").map_or(good.len(), |e| start + e);
        let emptied = format!("{}{section}\nplugins =\n{}", &good[..start], &good[end..]);
        std::fs::write(&ini.path, emptied).unwrap();
        // SAFETY: kill(2) on our own child.
        assert_eq!(
            unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) },
            0
        );
        let name = section.trim_matches(['[', ']']);
        let needle = format!("[{name}] lists no plugins");
        assert!(
            server.wait_for_log(&needle, Duration::from_secs(10)),
            "reload {n} refused:\n{}",
            server.log()
        );
        assert!(ok(&server), "the previous config still serves");
    }
    let log = server.log();
    assert_eq!(log.matches("config reload refused").count(), 2, "{log}");
}

/// Row 15: a ticket dated years ahead (minted with a leaked or guessed secret, it would
/// outlive any `timeout`) was accepted. Now only up to `max_clock_skew` (60 s) ahead.
#[test]
fn auth_tkt_refuses_tickets_dated_beyond_the_clock_skew() {
    let ns = NetNs::create("tkt-future");
    let ini = standard_ini(&[("alice", "wonderland")], "");
    let server = Listening::start(ns.host_ip(), &ini.path, 1024, &[]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    for (ahead, accepted) in [
        (0, true),
        (30, true),
        (3600, false),
        (10 * 365 * 86400, false),
    ] {
        let tkt = mint(
            STANDARD_SECRET.as_bytes(),
            DigestAlgo::Sha256,
            &ClientIp::UNSPECIFIED,
            now + ahead,
            "alice",
            &[],
            "",
        )
        .unwrap();
        let answer = get(
            ns.connect(server.addr).unwrap(),
            "/_rewho/auth",
            &format!("Cookie: auth_tkt=\"{tkt}\"\r\nAccept: application/json\r\n"),
        );
        assert_eq!(
            answer.starts_with("HTTP/1.1 200"),
            accepted,
            "+{ahead}s: {answer}"
        );
    }
}

/// The header lines (lowercased names) of an HTTP/1.1 answer.
fn header_lines(answer: &str) -> Vec<String> {
    answer
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .lines()
        .skip(1)
        .map(|l| match l.split_once(':') {
            Some((k, v)) => format!("{}:{}", k.to_ascii_lowercase(), v),
            None => l.to_owned(),
        })
        .collect()
}

/// Row 9: a cross-site page could log the victim in as the attacker (login CSRF: `POST
/// /_rewho/login` → 302 + `Set-Cookie`), log anyone out with an `<img>` (logout on `GET`), and
/// frame the login page; cookies had no `SameSite` and no `Secure` over https. Now the
/// cross-site post is refused, a same-origin one needs the form's token, logout is a
/// `POST`, the login page forbids framing and the ticket is `SameSite=Lax` (+ `Secure` when
/// a trusted proxy says https).
#[test]
fn login_csrf_logout_on_get_and_framing_are_refused_and_cookies_get_samesite_and_secure() {
    let ns = NetNs::create("login-csrf");
    // The namespace plays the trusted proxy for the https case.
    let ini = standard_ini(
        &[("alice", "wonderland")],
        &format!("trusted_proxies = {}", ns.ns_ip()),
    );
    let server = Listening::start(ns.host_ip(), &ini.path, 1024, &[]);
    let host = format!("{}", server.addr);
    let post = |path: &str, extra: &str, body: &str| {
        exchange(
            ns.connect(server.addr).unwrap(),
            &format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\
                 Content-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
            Duration::from_secs(30),
        )
    };
    let creds = "login=alice&password=wonderland&came_from=%2F";

    // The attack: a cross-site form post with the attacker's (valid) credentials.
    for extra in [
        "Origin: https://evil.test\r\nSec-Fetch-Site: cross-site\r\n",
        "Origin: https://evil.test\r\n",
        "Sec-Fetch-Site: cross-site\r\n",
        "Origin: null\r\n",
    ] {
        let answer = post("/_rewho/login", extra, creds);
        assert!(answer.starts_with("HTTP/1.1 403"), "{extra:?}: {answer}");
        assert!(
            !answer.contains("auth_tkt="),
            "{extra:?}: no ticket: {answer}"
        );
    }
    // Same origin, but without the form's token: refused too.
    let origin = format!("Origin: http://{host}\r\nSec-Fetch-Site: same-origin\r\n");
    let answer = post("/_rewho/login", &origin, creds);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");

    // The real form: its page sets the token cookie and may not be framed.
    let page = get(ns.connect(server.addr).unwrap(), "/_rewho/login", "");
    let headers = header_lines(&page);
    assert!(
        headers
            .iter()
            .any(|h| h == "content-security-policy: frame-ancestors 'none'"),
        "{headers:?}"
    );
    let token_cookie = headers
        .iter()
        .find_map(|h| h.strip_prefix("set-cookie: rewho_csrf="))
        .expect("a token cookie");
    assert!(token_cookie.contains("SameSite=Strict") && token_cookie.contains("HttpOnly"));
    let token = token_cookie.split(';').next().unwrap().to_owned();
    assert!(page.contains(&format!("name=\"csrf_token\" value=\"{token}\"")));
    let with_token = format!("{creds}&csrf_token={token}");
    let browser = format!("{origin}Cookie: rewho_csrf={token}\r\n");
    let answer = post("/_rewho/login", &browser, &with_token);
    assert!(answer.starts_with("HTTP/1.1 302"), "{answer}");
    let tickets: Vec<String> = header_lines(&answer)
        .into_iter()
        .filter(|h| h.starts_with("set-cookie: auth_tkt="))
        .collect();
    assert!(!tickets.is_empty(), "{answer}");
    for t in &tickets {
        assert!(t.contains("SameSite=Lax") && t.contains("HttpOnly"), "{t}");
        assert!(!t.contains("secure"), "plain http: no Secure: {t}");
    }
    // Over https (as the trusted proxy says): Secure.
    let https = format!(
        "Origin: https://{host}\r\nX-Forwarded-Proto: https\r\nCookie: rewho_csrf={token}\r\n"
    );
    let answer = post("/_rewho/login", &https, &with_token);
    assert!(answer.starts_with("HTTP/1.1 302"), "{answer}");
    assert!(
        header_lines(&answer)
            .iter()
            .filter(|h| h.starts_with("set-cookie: auth_tkt="))
            .all(|t| t.contains("; secure")),
        "{answer}"
    );

    // Logout: a GET only shows the button; a cross-site POST is refused.
    let page = get(ns.connect(server.addr).unwrap(), "/_rewho/logout", "");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("action=\"/_rewho/logout\"") && !page.contains("auth_tkt="));
    let answer = post("/_rewho/logout", "Origin: https://evil.test\r\n", "");
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(!answer.contains("auth_tkt="), "{answer}");
    let answer = post(
        "/_rewho/logout",
        &browser,
        &format!("came_from=%2Fbye&csrf_token={token}"),
    );
    assert!(answer.starts_with("HTTP/1.1 302"), "{answer}");
    assert!(answer.contains("auth_tkt=\"INVALID\""), "forgets: {answer}");
}
