//! `rewho serve` as the authentication service of real front ends, configured with the files
//! shipped in `examples/` (only ports and addresses are changed): nginx's `auth_request`,
//! Caddy's `forward_auth` and Traefik's `forwardAuth`, in front of a test upstream, on the standard plugins (auth_tkt,
//! basicauth, htpasswd with an Apache `htpasswd -B` file, redirector).
#![cfg(feature = "server")]

mod common;
mod serve_support;

use serve_support::{
    basic, example, form_encode, standard_ini, Caddy, Http, Nginx, Rewho, StandardIni, Traefik,
    Upstream,
};

const BROWSER: (&str, &str) = ("accept", "text/html,application/xhtml+xml,*/*;q=0.8");

/// Replaces `from` by `to` in an example, failing if the example no longer has `from` (so the
/// test notices when the example changes shape).
fn subst(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the example no longer contains {from:?}"
    );
    text.replace(from, to)
}

struct Stack {
    _ini: StandardIni,
    rewho: Rewho,
    upstream: Upstream,
}

async fn stack() -> Stack {
    let ini = standard_ini(&[("alice", "wonderland"), ("bob", "builder")], "");
    let rewho = Rewho::start(&["--config", ini.path.to_str().unwrap()]);
    let upstream = Upstream::start().await;
    Stack {
        _ini: ini,
        rewho,
        upstream,
    }
}

/// The front end's configured addresses pointed at this test's rewho and upstream.
fn point(text: &str, s: &Stack) -> String {
    let t = subst(text, "127.0.0.1:8080", &s.rewho.addr.to_string());
    subst(&t, "127.0.0.1:3000", &s.upstream.addr.to_string())
}

/// The whole flow through a front end at `base` (`http://127.0.0.1:PORT`).
async fn browser_login_basic_and_spoofing(base: &str, s: &Stack) {
    let http = Http::new();
    let url = |p: &str| format!("{base}{p}");
    let upstream_calls = || s.upstream.seen.lock().unwrap().len();

    // An anonymous browser is sent to the login form, with where it was going.
    let r = http.get(&url("/private/page?x=1"), &[BROWSER]).await;
    assert_eq!(r.status, 302, "{r:?}");
    let location = r.header("location").unwrap().to_owned();
    let came_from = form_encode(&format!("{base}/private/page?x=1"));
    assert!(
        location.ends_with(&format!("/_rewho/login?came_from={came_from}")),
        "{location}"
    );
    assert!(r.header("www-authenticate").is_none());
    assert_eq!(upstream_calls(), 0, "an anonymous request reached the app");

    // The login form, through the front end.
    let path = location.strip_prefix(base).unwrap_or(&location).to_owned();
    let form = http.get(&url(&path), &[BROWSER]).await;
    assert_eq!(form.status, 200, "{form:?}");
    assert!(form.body.contains("action=\"/_rewho/login\""));
    assert!(form.body.contains(&format!("{base}/private/page?x=1")));

    // A wrong password shows the form again and sets no session.
    let r = http
        .post_form(
            &url("/_rewho/login"),
            &[BROWSER],
            &format!("login=alice&password=nope&came_from={came_from}"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Invalid login or password."));
    assert!(
        r.cookies().iter().all(|c| c == "auth_tkt=\"INVALID\""),
        "a failed login set a session: {r:?}"
    );

    // Logging in sets the auth_tkt cookie and goes back.
    let r = http
        .post_form(
            &url("/_rewho/login"),
            &[BROWSER],
            &format!("login=alice&password=wonderland&came_from={came_from}"),
        )
        .await;
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(r.header("location"), Some("/private/page?x=1"));
    let cookie = r
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("auth_tkt="))
        .unwrap_or_else(|| panic!("no auth_tkt cookie in {r:?}"));

    // With the cookie the app sees the user, and only rewho's word for it.
    let r = http
        .get(
            &url("/private/page?x=1"),
            &[BROWSER, ("cookie", &cookie), ("x-remote-user", "root")],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.starts_with("path: /private/page\n"), "{}", r.body);
    assert!(r.body.contains("\nx-remote-user: alice\n"), "{}", r.body);
    assert!(
        !r.body.contains("root"),
        "the spoofed user reached the app:\n{}",
        r.body
    );
    let seen = s.upstream.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.get("x-remote-user").map(String::as_str), Some("alice"));

    // A tampered cookie is no session.
    let tampered = cookie.replacen("alice", "admin", 1);
    let before = upstream_calls();
    let r = http
        .get(&url("/private"), &[BROWSER, ("cookie", &tampered)])
        .await;
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(upstream_calls(), before);

    // A non-browser client without credentials is challenged with Basic.
    let r = http
        .get(
            &url("/api/items"),
            &[("accept", "application/json"), ("x-remote-user", "root")],
        )
        .await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"serve tests\"")
    );
    assert!(r.header("location").is_none());
    assert_eq!(upstream_calls(), before, "a spoofed user header got in");

    // Wrong Basic credentials: challenged again, nothing reaches the app.
    let bad = basic("bob", "wrong");
    let r = http
        .get(&url("/api/items"), &[("authorization", &bad)])
        .await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    assert_eq!(upstream_calls(), before);

    // Right Basic credentials (bcrypt from Apache's htpasswd), with a spoofed header.
    let good = basic("bob", "builder");
    let r = http
        .get(
            &url("/api/items"),
            &[
                ("authorization", &good),
                ("x-remote-user", "alice"),
                ("accept", "application/json"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("\nx-remote-user: bob\n"), "{}", r.body);
    assert!(!r.body.contains("x-remote-user: alice"), "{}", r.body);
    assert_eq!(upstream_calls(), before + 1);

    // The forward-auth endpoint itself is not for clients.
    let r = http
        .get(&url("/_rewho/auth"), &[("authorization", &good)])
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = http.get(&url("/_rewho/metrics"), &[]).await;
    assert!(matches!(r.status.as_u16(), 403 | 404), "{r:?}");
    assert!(!r.body.contains("rewho_"), "metrics are public: {r:?}");
    assert!(r.header("x-remote-user").is_none());

    // Logout forgets the cookie.
    let r = http
        .post_form(
            &url("/_rewho/logout?came_from=/bye"),
            &[("cookie", &cookie)],
            "",
        )
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/bye"));
    assert!(
        r.all("set-cookie")
            .iter()
            .any(|c| c.starts_with("auth_tkt=") && (c.contains("Max-Age=0") || c.contains("1970"))),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_with_the_shipped_example() {
    let s = stack().await;
    let nginx = Nginx::start_site(&example("nginx/rewho.conf"), |text, port| {
        let t = subst(text, "listen 80;", &format!("listen 127.0.0.1:{port};"));
        point(&t, &s)
    });
    let base = format!("http://127.0.0.1:{}", nginx.port);
    browser_login_basic_and_spoofing(&base, &s).await;
    assert!(
        !nginx.error_log().contains("[emerg]"),
        "{}",
        nginx.error_log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_forward_auth_with_the_shipped_example() {
    let s = stack().await;
    let caddy = Caddy::start(&example("caddy/Caddyfile"), |text, port| {
        let t = subst(text, "\n:80 {", &format!("\n:{port} {{"));
        point(&t, &s)
    });
    let base = format!("http://127.0.0.1:{}", caddy.port);
    browser_login_basic_and_spoofing(&base, &s).await;
    drop(caddy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_forward_auth_with_the_shipped_example() {
    let s = stack().await;
    let traefik = Traefik::start(
        &example("traefik/traefik.yml"),
        &example("traefik/rewho.yml"),
        |text, port, dynamic| {
            if text.contains("entryPoints:\n  web:") {
                let t = subst(
                    text,
                    "address: \":80\"",
                    &format!("address: \"127.0.0.1:{port}\""),
                );
                subst(&t, "/etc/traefik/rewho.yml", &dynamic.display().to_string())
            } else {
                point(text, &s)
            }
        },
    );
    // Traefik opens its port before the file provider's routers are in place.
    let base = format!("http://127.0.0.1:{}", traefik.port);
    let http = Http::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = http
            .get(&format!("{base}/ready"), &[("accept", "application/json")])
            .await;
        if r.status == 401 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "traefik never routed to rewho: {r:?}\n{}",
            traefik.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser_login_basic_and_spoofing(&base, &s).await;
}
