//! The `oidc` plugin against a real OpenID Provider (node-oidc-provider 8.x, `tests/oidc/`):
//! the code + PKCE flow through real nginx forward-auth, two providers side by side, claims
//! replayed by `metadata_cache` on cookie-only requests, `--upstream` and the tower layer,
//! signing-key rotation, and every failure: wrong or missing state, replayed callback, bad
//! code, provider errors, wrong `aud`/`iss`/`nonce`, expired and mis-signed ID tokens, a
//! provider that is down or does not answer.
//!
//! Needs `cargo build --workspace` (the plugin `.so` files), nginx, node and `npm ci` in
//! `tests/oidc` (`.ci/install` does both).
#![cfg(feature = "server")]

mod common;
mod oidc_support;
mod serve_support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use oidc_support::{query_param, resolve, with_param, Browser, ClientReg, Provider};
use serve_support::{example, free_port, Nginx, Rewho, Upstream};

const CORP_SECRET: &str = "corp-client-secret-0123456789";
const PARTNER_SECRET: &str = "partner-client-secret-0123456789";
const TKT_SECRET: &str = "oidc-tests-auth-tkt-secret-0123456789";

fn subst(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the example no longer contains {from:?}"
    );
    text.replace(from, to)
}

/// A who.ini with auth_tkt, the `corp` oidc section at `corp_issuer` (client_secret_basic),
/// optionally `partner` at another provider (client_secret_post, secret in a file, user id
/// from `email`), and the two metadata caches; `extra` adds sections.
fn who_ini(dir: &Path, corp_issuer: &str, partner_issuer: Option<&str>, extra: &str) -> String {
    for p in ["auth_tkt", "oidc", "metadata_cache"] {
        common::plugin_so(p);
    }
    std::fs::write(dir.join("partner.secret"), format!("{PARTNER_SECRET}\n")).unwrap();
    let partner = partner_issuer.map_or(String::new(), |issuer| {
        format!(
            "[plugin:partner]\nuse = oidc\nissuer = {issuer}\nclient_id = rewho-partner\n\
client_secret_file = %(here)s/partner.secret\ntoken_endpoint_auth_method = client_secret_post\n\
secret = partner-state-secret-0123456789\nrememberer_name = auth_tkt\nuserid_claim = email\n\
scope = openid email profile groups\n\n"
        )
    });
    let partner_id = if partner_issuer.is_some() {
        "partner"
    } else {
        ""
    };
    let text = format!(
        "[plugin:auth_tkt]\nuse = auth_tkt\nsecret = {TKT_SECRET}\ndigest_algo = sha256\n\n\
[plugin:corp]\nuse = oidc\nissuer = {corp_issuer}\nclient_id = rewho-corp\n\
client_secret = {CORP_SECRET}\nsecret = corp-state-secret-0123456789\n\
rememberer_name = auth_tkt\nscope = openid email profile groups\njwks_min_refresh = 0\n\n\
{partner}{extra}\
[plugin:attributes]\nuse = metadata_cache\nname = attributes\n\n\
[plugin:groups]\nuse = metadata_cache\nname = groups\n\n\
[identifiers]\nplugins = corp {partner_id} auth_tkt attributes groups\n\
[authenticators]\nplugins = corp {partner_id} auth_tkt\n\
[challengers]\nplugins = corp\n\
[mdproviders]\nplugins = attributes groups\n"
    );
    let path = dir.join("who.ini");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn corp_client(redirect_base: &str) -> ClientReg {
    ClientReg {
        id: "rewho-corp",
        secret: CORP_SECRET,
        auth: "client_secret_basic",
        redirect_uris: vec![format!("{redirect_base}/_rewho/oidc/corp/callback")],
    }
}

fn partner_client(redirect_base: &str) -> ClientReg {
    ClientReg {
        id: "rewho-partner",
        secret: PARTNER_SECRET,
        auth: "client_secret_post",
        redirect_uris: vec![format!("{redirect_base}/_rewho/oidc/partner/callback")],
    }
}

/// GETs `url` (anonymous) and checks it is sent to `issuer`'s authorization endpoint with
/// PKCE and the state cookie; returns the authorization URL.
async fn challenged(browser: &Browser, url: &str, issuer: &str) -> String {
    let r = browser.get(url).await;
    assert_eq!(r.status, 302, "{url}: {r:?}");
    let location = r.header("location").unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{issuer}/auth?")),
        "{location}"
    );
    for p in [
        "response_type=code",
        "code_challenge_method=S256",
        "scope=openid",
    ] {
        assert!(location.contains(p), "{p} missing in {location}");
    }
    for p in ["code_challenge", "state", "nonce", "redirect_uri"] {
        assert!(query_param(&location, p).is_some(), "{p} in {location}");
    }
    let cookie = r
        .all("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("rewho_oidc_"))
        .unwrap_or_else(|| panic!("no state cookie: {r:?}"));
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "http: no Secure ({cookie})");
    location
}

/// Visits the callback and checks the landing redirect with the auth_tkt cookie.
/// (A browser that already holds the same user's ticket keeps it: auth_tkt re-issues only
/// what changed.)
async fn land(browser: &Browser, callback: &str, came_from: &str) {
    let had_ticket = browser.cookie("auth_tkt").is_some();
    let r = browser.get(callback).await;
    assert_eq!(r.status, 302, "{callback}: {r:?}");
    assert_eq!(r.header("location"), Some(came_from));
    assert!(
        had_ticket || r.cookies().iter().any(|c| c.starts_with("auth_tkt=")),
        "{r:?}"
    );
    assert!(browser.cookie("auth_tkt").is_some());
    assert!(
        r.all("set-cookie")
            .iter()
            .any(|c| c.starts_with("rewho_oidc_") && c.contains("Max-Age=0")),
        "the state cookie is cleared: {r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_flow_through_nginx_with_two_providers_and_replayed_claims() {
    let dir = tempfile::tempdir().unwrap();
    let (corp_port, partner_port) = (free_port(), free_port());
    let corp_issuer = format!("http://127.0.0.1:{corp_port}");
    let partner_issuer = format!("http://127.0.0.1:{partner_port}");
    let ini = who_ini(dir.path(), &corp_issuer, Some(&partner_issuer), "");
    let rewho = Rewho::start(&["--config", &ini]);
    let upstream = Upstream::start().await;
    let nginx = Nginx::start_site(&example("nginx/rewho.conf"), |text, port| {
        let t = subst(text, "listen 80;", &format!("listen 127.0.0.1:{port};"));
        let t = subst(&t, "127.0.0.1:8080", &rewho.addr.to_string());
        subst(&t, "127.0.0.1:3000", &upstream.addr.to_string())
    });
    let base = format!("http://127.0.0.1:{}", nginx.port);
    let corp = Provider::start(
        corp_port,
        &dir.path().join("corp-keys.json"),
        "corp-k1",
        &[corp_client(&base)],
    );
    let partner = Provider::start(
        partner_port,
        &dir.path().join("partner-keys.json"),
        "partner-k1",
        &[partner_client(&base)],
    );

    // alice: sent to corp by the challenge (through nginx's auth_request), signs in, lands
    // back on the page she asked for with an auth_tkt cookie.
    let alice = Browser::new();
    let authorize = challenged(&alice, &format!("{base}/private/page?x=1"), &corp_issuer).await;
    let callback = alice.sign_in(&authorize, "alice", "alice-password").await;
    assert!(
        callback.starts_with(&format!("{base}/_rewho/oidc/corp/callback?")),
        "{callback}"
    );
    land(&alice, &callback, "/private/page?x=1").await;
    let r = alice.get(&format!("{base}/private/page?x=1")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("x-remote-user: alice\n"), "{}", r.body);
    assert!(r.body.contains("path: /private/page"), "{}", r.body);
    // A cookie-only request: the claims captured at the callback are replayed
    // (rewho's demo page, reached through nginx's /_rewho/ location, shows the identity).
    let page = alice.get(&format!("{base}/_rewho/whoami")).await;
    assert_eq!(page.status, 200, "{page:?}");
    for shown in [
        "alice@example.org",
        "Alice Liddell",
        "staff",
        "admins",
        "auth_tkt",
    ] {
        assert!(page.body.contains(shown), "{shown} not in {}", page.body);
    }

    // bob picks the second provider from a login link; its own callback path, its own
    // client authentication (client_secret_post) and user id claim (email).
    let bob = Browser::new();
    let start = format!("{base}/_rewho/oidc/partner/login?came_from=%2Fpartner%2Farea");
    let authorize = challenged(&bob, &start, &partner_issuer).await;
    let callback = bob.sign_in(&authorize, "bob", "bob-password").await;
    assert!(
        callback.starts_with(&format!("{base}/_rewho/oidc/partner/callback?")),
        "{callback}"
    );
    land(&bob, &callback, "/partner/area").await;
    let r = bob.get(&format!("{base}/partner/area")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.contains("x-remote-user: bob@example.org\n"),
        "{}",
        r.body
    );
    // A came_from that leaves the site is replaced by `/`.
    let r = bob
        .get(&format!(
            "{base}/_rewho/oidc/partner/login?came_from=https%3A%2F%2Fevil.example%2F"
        ))
        .await;
    assert_eq!(r.status, 302);
    let callback = bob
        .sign_in(r.header("location").unwrap(), "bob", "bob-password")
        .await;
    land(&bob, &callback, "/").await;

    // One provider's callback does not take the other's login: corp's state cookie is not
    // partner's, so a corp callback URL presented at partner's path is refused.
    let carol = Browser::new();
    let authorize = challenged(&carol, &format!("{base}/x"), &corp_issuer).await;
    let callback = carol.sign_in(&authorize, "alice", "alice-password").await;
    let crossed = callback.replace("/oidc/corp/", "/oidc/partner/");
    let r = carol.get(&crossed).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(carol.cookie("auth_tkt").is_none());
    assert!(rewho.wait_for_log(
        "OIDC login refused: no state cookie",
        Duration::from_secs(5)
    ));
    assert!(
        !nginx.error_log().contains("[emerg]"),
        "{}",
        nginx.error_log()
    );
    drop((corp, partner));
}

/// rewho with `--upstream`, straight (no front end), against one provider: the flow, then
/// every failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_mode_and_every_failure_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let corp_port = free_port();
    let corp_issuer = format!("http://127.0.0.1:{corp_port}");
    // A provider that is not there, and one that accepts connections but never answers.
    let closed = free_port();
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let blackhole_addr: SocketAddr = blackhole.local_addr().unwrap();
    let extra = format!(
        "[plugin:down]\nuse = oidc\nissuer = http://127.0.0.1:{closed}\nclient_id = x\n\
client_secret = x\nsecret = down-state-secret-0123456789\nrememberer_name = auth_tkt\n\n\
[plugin:hung]\nuse = oidc\nissuer = http://{blackhole_addr}\nclient_id = x\n\
client_secret = x\nsecret = hung-state-secret-0123456789\nrememberer_name = auth_tkt\n\
timeout = 1\n\n"
    );
    let ini = who_ini(dir.path(), &corp_issuer, None, &extra);
    let ini = std::fs::read_to_string(&ini).unwrap().replace(
        "plugins = corp  auth_tkt",
        "plugins = corp down hung auth_tkt",
    );
    std::fs::write(dir.path().join("who.ini"), ini).unwrap();
    let ini = dir.path().join("who.ini").display().to_string();
    let upstream = Upstream::start().await;
    let rewho = Rewho::start(&["--config", &ini, "--upstream", &upstream.url()]);
    let base = format!("http://{}", rewho.addr);
    let corp = Provider::start(
        corp_port,
        &dir.path().join("keys.json"),
        "k1",
        &[corp_client(&base)],
    );
    let refused = |needle: &str| {
        assert!(
            rewho.wait_for_log(
                &format!("OIDC login refused: {needle}"),
                Duration::from_secs(5)
            ),
            "no log line for {needle:?}:\n{}",
            rewho.log()
        );
    };
    let upstream_calls = || upstream.seen.lock().unwrap().len();

    // The flow works in --upstream mode: the application answers 401 (this upstream's
    // /status/401), the layer challenges; the callback never reaches the upstream.
    let b = Browser::new();
    let authorize = challenged(&b, &format!("{base}/status/401"), &corp_issuer).await;
    let callback = b.sign_in(&authorize, "alice", "alice-password").await;
    let state_cookie = b.cookie("rewho_oidc_corp").unwrap();
    let before = upstream_calls();
    land(&b, &callback, "/status/401").await;
    assert_eq!(
        upstream_calls(),
        before,
        "the callback reached the upstream"
    );
    let r = b.get(&format!("{base}/app")).await;
    assert!(r.body.contains("x-remote-user: alice\n"), "{r:?}");

    // Replayed callback (same URL and the copied state cookie): refused by rewho before the
    // provider is asked again.
    let replay = Browser::new();
    replay.set_cookie(&base, "rewho_oidc_corp", &state_cookie);
    let r = replay.get(&callback).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(replay.cookie("auth_tkt").is_none());
    refused("callback replayed");

    // Each failing login: start fresh, get the provider's callback, spoil one thing.
    async fn fresh(base: &str, issuer: &str) -> (Browser, String) {
        let b = Browser::new();
        let authorize = challenged(&b, &format!("{base}/status/401"), issuer).await;
        let callback = b.sign_in(&authorize, "alice", "alice-password").await;
        (b, callback)
    }
    let refuse = |b: &Browser, r: &serve_support::Resp, status: u16| {
        assert_eq!(r.status.as_u16(), status, "{r:?}");
        assert!(
            r.header("x-upstream").is_none(),
            "a refused callback reached the upstream"
        );
        assert!(b.cookie("auth_tkt").is_none(), "an identity was remembered");
        assert!(
            !r.cookies().iter().any(|c| c.starts_with("auth_tkt=")),
            "{r:?}"
        );
    };

    // Wrong state.
    let (b, callback) = fresh(&base, &corp_issuer).await;
    let r = b.get(&with_param(&callback, "state", "forged")).await;
    refuse(&b, &r, 403);
    refused("state does not match");
    // No state cookie (another browser).
    let (_, callback) = fresh(&base, &corp_issuer).await;
    let other = Browser::new();
    let r = other.get(&callback).await;
    refuse(&other, &r, 403);
    refused("no state cookie");
    // A code the provider never issued.
    let (b, callback) = fresh(&base, &corp_issuer).await;
    let r = b
        .get(&with_param(&callback, "code", "not-a-real-code"))
        .await;
    refuse(&b, &r, 403);
    refused("token endpoint refused the code: HTTP 400, error `invalid_grant`");
    // The provider's own error answer.
    let (b, callback) = fresh(&base, &corp_issuer).await;
    let state = query_param(&callback, "state").unwrap();
    let denied = format!("{base}/_rewho/oidc/corp/callback?error=access_denied&state={state}");
    let r = b.get(&denied).await;
    refuse(&b, &r, 403);
    refused("the provider answered error `access_denied`");
    // ID tokens that fail one check each (the provider re-signs them with its own key,
    // except for `sig`).
    for (mode, why) in [
        ("aud", "ID token rejected: audience (aud) does not match"),
        ("iss", "ID token rejected: issuer (iss) does not match"),
        ("nonce", "ID token rejected: nonce does not match"),
        ("expired", "ID token rejected: token expired"),
        ("sig", "ID token rejected: bad signature"),
    ] {
        corp.tamper(mode).await;
        let (b, callback) = fresh(&base, &corp_issuer).await;
        let r = b.get(&callback).await;
        refuse(&b, &r, 403);
        refused(why);
    }
    corp.tamper("none").await;
    let (b, callback) = fresh(&base, &corp_issuer).await;
    land(&b, &callback, "/status/401").await;

    // A provider that is down: the login cannot start (502 page, never the upstream).
    let b = Browser::new();
    let r = b
        .get(&format!("{base}/_rewho/oidc/down/login?came_from=/app"))
        .await;
    assert_eq!(r.status, 502, "{r:?}");
    assert!(rewho.wait_for_log(
        "OIDC login cannot start: identity provider unreachable",
        Duration::from_secs(5)
    ));
    // One that never answers: bounded by its `timeout` (1 s).
    let started = Instant::now();
    let r = b
        .get(&format!("{base}/_rewho/oidc/hung/login?came_from=/app"))
        .await;
    assert_eq!(r.status, 502, "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    drop(blackhole);
    // The provider goes away between sign-in and callback.
    let (b, callback) = fresh(&base, &corp_issuer).await;
    drop(corp);
    let started = Instant::now();
    let r = b.get(&callback).await;
    refuse(&b, &r, 502);
    assert!(started.elapsed() < Duration::from_secs(5));
    refused("identity provider unreachable");
}

/// The provider rotates its signing key (restarted with a new key under a new `kid`): the
/// next login's token names an unknown key, rewho refetches the JWKS once and accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_key_rotation_refetches_the_jwks() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let ini = who_ini(dir.path(), &issuer, None, "");
    let rewho = Rewho::start(&["--config", &ini]);
    let base = format!("http://{}", rewho.addr);
    let provider = Provider::start(
        port,
        &dir.path().join("k1.json"),
        "k1",
        &[corp_client(&base)],
    );
    let b = Browser::new();
    let authorize = challenged(&b, &format!("{base}/one"), &issuer).await;
    let callback = b.sign_in(&authorize, "alice", "alice-password").await;
    land(&b, &callback, "/one").await;
    assert!(!rewho.log().contains("refetched the JWKS"));

    let provider = provider.restart_with_keys(&dir.path().join("k2.json"), "k2");
    let b = Browser::new();
    let authorize = challenged(&b, &format!("{base}/two"), &issuer).await;
    let callback = b.sign_in(&authorize, "alice", "alice-password").await;
    land(&b, &callback, "/two").await;
    assert!(rewho.wait_for_log("refetched the JWKS", Duration::from_secs(5)));
    let page = b.get(&format!("{base}/two")).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("alice@example.org"), "{}", page.body);

    // Behind a TLS-terminating proxy (trusted: loopback) the state cookie is Secure and the
    // redirect URI is the https one the browser sees.
    let r = serve_support::Http::new()
        .get(
            &format!("{base}/_rewho/auth"),
            &[
                ("accept", "text/html"),
                ("host", "app.example"),
                ("x-forwarded-proto", "https"),
                ("x-original-uri", "/secure?z=1"),
                ("x-original-method", "GET"),
            ],
        )
        .await;
    assert_eq!(r.status, 401, "nginx gets 401 + Location: {r:?}");
    let location = r.header("location").unwrap();
    assert_eq!(
        query_param(location, "redirect_uri"),
        Some("https%3A%2F%2Fapp.example%2F_rewho%2Foidc%2Fcorp%2Fcallback")
    );
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.starts_with("rewho_oidc_corp=v1."), "{cookie}");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    drop(provider);
}

/// The callback through the tower layer around an application (no `rewho serve`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_through_the_tower_layer() {
    use axum::routing::get;
    use rewho::{ApiFactory, WhoIdentity, WhoLayer};

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let ini = who_ini(dir.path(), &issuer, None, "");
    let factory = ApiFactory::from_config_file(Path::new(&ini)).unwrap_or_else(|e| panic!("{e}"));
    async fn me(WhoIdentity(identity): WhoIdentity) -> String {
        let groups = identity
            .get("groups")
            .map(|g| g.to_display_string())
            .unwrap_or_default();
        format!(
            "user={} groups={groups}\n",
            identity
                .userid()
                .map(|u| u.to_display_string())
                .unwrap_or_default()
        )
    }
    let app = axum::Router::new()
        .route("/me", get(me))
        .layer(WhoLayer::new(factory));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let base = format!("http://{addr}");
    let provider = Provider::start(
        port,
        &dir.path().join("k.json"),
        "k1",
        &[corp_client(&base)],
    );
    let b = Browser::new();
    let authorize = challenged(&b, &format!("{base}/me"), &issuer).await;
    let callback = b.sign_in(&authorize, "alice", "alice-password").await;
    land(&b, &callback, "/me").await;
    let r = b.get(&resolve("/me", &base)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.starts_with("user=alice groups="), "{}", r.body);
    assert!(
        r.body.contains("staff") && r.body.contains("admins"),
        "{}",
        r.body
    );
    server.abort();
    drop(provider);
}

/// What a login costs, measured (not a pass/fail test; run it on purpose):
/// `cargo test -p rewho --test sso_oidc -- --ignored --nocapture login_cost`.
/// Prints the whole browser flow of a cold login (fresh rewho: discovery and JWKS fetched
/// during it), a warm login, rewho's own share of each (the challenge and the callback, which
/// holds the token exchange and key fetch), and a remembered request (auth_tkt cookie, claims
/// replayed by metadata_cache).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn login_cost() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let ini = who_ini(dir.path(), &issuer, None, "");
    let rewho = Rewho::start(&["--config", &ini]);
    let base = format!("http://{}", rewho.addr);
    let provider = Provider::start(
        port,
        &dir.path().join("k.json"),
        "k1",
        &[corp_client(&base)],
    );
    // Warm the provider itself (node's first requests compile code paths).
    let warm = Browser::new();
    let auth = format!(
        "{issuer}/auth?client_id=rewho-corp&response_type=code&scope=openid&redirect_uri={}\
&state=x&nonce=x&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
&code_challenge_method=S256",
        serve_support::form_encode(&format!("{base}/_rewho/oidc/corp/callback"))
    );
    for _ in 0..3 {
        warm.sign_in(&auth, "alice", "alice-password").await;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for label in ["cold", "warm", "warm"] {
        let b = Browser::new();
        let start = Instant::now();
        let r = b.get(&format!("{base}/page")).await;
        let challenge = start.elapsed();
        let callback = b
            .sign_in(r.header("location").unwrap(), "alice", "alice-password")
            .await;
        let before_callback = Instant::now();
        land(&b, &callback, "/page").await;
        let callback_time = before_callback.elapsed();
        let page = b.get(&format!("{base}/page")).await;
        assert_eq!(page.status, 200);
        println!(
            "{label} login: whole flow {:.1} ms; rewho's challenge {:.1} ms, callback {:.1} ms",
            ms(start.elapsed()),
            ms(challenge),
            ms(callback_time)
        );
        if label == "warm" {
            let mut times: Vec<Duration> = Vec::new();
            for _ in 0..200 {
                let t = Instant::now();
                let r = b.get(&format!("{base}/page")).await;
                times.push(t.elapsed());
                assert_eq!(r.status, 200);
            }
            times.sort();
            println!(
                "remembered request (auth_tkt + metadata_cache replay, demo page): median {:.2} ms, p90 {:.2} ms over 200",
                ms(times[100]),
                ms(times[180])
            );
        }
    }
    drop(provider);
}

/// Without `metadata_cache` every plugin of the chain asks before it blocks, so `rewho serve`
/// tries requests inline first: cookie requests stay on the connection thread, and the
/// callback (which needs the network) is handed to a blocking thread and still completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_first_chain_hands_the_callback_over() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let path = who_ini(dir.path(), &issuer, None, "");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(" attributes groups\n", "\n")
        .replace("[mdproviders]\nplugins = attributes groups\n", "");
    std::fs::write(&path, text).unwrap();
    let rewho = Rewho::start(&["--config", &path]);
    let base = format!("http://{}", rewho.addr);
    let provider = Provider::start(
        port,
        &dir.path().join("k.json"),
        "k1",
        &[corp_client(&base)],
    );
    let b = Browser::new();
    let authorize = challenged(&b, &format!("{base}/inline"), &issuer).await;
    let callback = b.sign_in(&authorize, "alice", "alice-password").await;
    // The callback's `iss` (RFC 9207) must be this provider's.
    let other = with_param(&callback, "iss", "http%3A%2F%2F127.0.0.1%3A1");
    let r = b.get(&other).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(rewho.wait_for_log(
        "OIDC login refused: the callback's iss is another issuer",
        Duration::from_secs(5)
    ));
    let authorize = challenged(&b, &format!("{base}/inline"), &issuer).await;
    let callback = b.sign_in(&authorize, "alice", "alice-password").await;
    land(&b, &callback, "/inline").await;
    let page = b.get(&format!("{base}/inline")).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("Hello, alice"), "{}", page.body);
    // No metadata_cache here: the claims went with the callback request.
    assert!(!page.body.contains("alice@example.org"), "{}", page.body);
    assert!(
        !rewho.log().contains("plugin call failed"),
        "an inline attempt's hand-over was logged as a failure:\n{}",
        rewho.log()
    );
    drop(provider);
}

/// Bad options stop start-up with the section and option named.
#[test]
fn bad_options_are_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let base = who_ini(dir.path(), "http://127.0.0.1:9", None, "");
    let text = std::fs::read_to_string(&base).unwrap();
    for (from, to, expected) in [
        (
            "secret = corp-state-secret-0123456789\n",
            "",
            "`secret` or `secretfile` is required",
        ),
        (
            "secret = corp-state-secret-0123456789",
            "secret = short",
            "at least 16 bytes",
        ),
        (
            "scope = openid email profile groups",
            "scope = email",
            "must include `openid`",
        ),
        (
            "rememberer_name = auth_tkt\nscope",
            "rememberer_name = nope\nscope",
            "no plugin `nope`",
        ),
        (
            "issuer = http://127.0.0.1:9",
            "issuer = ftp://idp",
            "is not an http(s) URL",
        ),
        (
            "jwks_min_refresh = 0",
            "algorithms = HS256",
            "not supported for ID tokens",
        ),
        (
            "jwks_min_refresh = 0",
            "token_endpoint_auth_method = private_key_jwt",
            "private_key_jwt",
        ),
        (
            "jwks_min_refresh = 0",
            "client_secret_file = x",
            "either `client_secret` or `client_secret_file`",
        ),
        ("jwks_min_refresh = 0", "colour = blue", "colour"),
    ] {
        assert!(text.contains(from), "{from}");
        let path = dir.path().join("bad.ini");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let err = rewho::ApiFactory::from_config_file(&path)
            .err()
            .unwrap_or_else(|| panic!("accepted: {to}"))
            .to_string();
        assert!(err.contains("corp"), "{err}");
        assert!(err.contains(expected), "{expected:?} not in {err}");
    }
}

/// The same login through the shipped Caddy and Traefik forward-auth examples: the
/// challenge's redirect and state cookie reach the browser, and the callback path is routed
/// to rewho.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_flow_through_caddy_and_traefik() {
    use serve_support::{Caddy, Http, Traefik};

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let ini = who_ini(dir.path(), &issuer, None, "");
    let rewho = Rewho::start(&["--config", &ini]);
    let upstream = Upstream::start().await;
    let point = |text: &str| {
        let t = subst(text, "127.0.0.1:8080", &rewho.addr.to_string());
        subst(&t, "127.0.0.1:3000", &upstream.addr.to_string())
    };
    let caddy = Caddy::start(&example("caddy/Caddyfile"), |text, port| {
        point(&subst(text, "\n:80 {", &format!("\n:{port} {{")))
    });
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
                point(text)
            }
        },
    );
    let bases = [
        format!("http://127.0.0.1:{}", caddy.port),
        format!("http://127.0.0.1:{}", traefik.port),
    ];
    // Traefik opens its port before its file provider's routers are in place.
    // (Unrouted requests get 404; routed ones are challenged.)
    let deadline = Instant::now() + Duration::from_secs(30);
    while Http::new()
        .get(&format!("{}/ready", bases[1]), &[])
        .await
        .status
        == 404
    {
        assert!(Instant::now() < deadline, "traefik never routed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = ClientReg {
        redirect_uris: bases
            .iter()
            .map(|b| format!("{b}/_rewho/oidc/corp/callback"))
            .collect(),
        ..corp_client("")
    };
    let provider = Provider::start(port, &dir.path().join("k.json"), "k1", &[client]);
    for base in &bases {
        let b = Browser::new();
        let authorize = challenged(&b, &format!("{base}/private?y=2"), &issuer).await;
        let callback = b.sign_in(&authorize, "alice", "alice-password").await;
        assert!(callback.starts_with(&format!("{base}/_rewho/oidc/corp/callback?")));
        land(&b, &callback, "/private?y=2").await;
        let r = b.get(&format!("{base}/private?y=2")).await;
        assert_eq!(r.status, 200, "{base}: {r:?}");
        assert!(
            r.body.contains("x-remote-user: alice\n"),
            "{base}: {}",
            r.body
        );
    }
    drop(provider);
}
