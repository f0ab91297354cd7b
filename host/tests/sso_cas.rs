//! The `cas` plugin against a real CAS server: django-mama-cas 2.5.0 on Django 4.2
//! (`tests/cas/`), started on a free loopback port with a test user and attribute release.
//!
//! A browser-like client (hyper, cookies kept by hand, redirects followed by hand) is sent to
//! CAS, fetches the login form, posts its credentials with Django's CSRF token, comes back
//! with a ticket, lands on the clean URL with the auth_tkt cookie, and on the next
//! cookie-only request the released attributes are in the identity, replayed by
//! `metadata_cache`. Seed 001's who.ini runs with only `cas_url` filled in, at every edge:
//! `rewho serve` (demo page, `--upstream`, forward-auth through real nginx and Caddy) and the tower
//! layer in process. Then the failures: bad, replayed and wrong-service tickets, an
//! unreachable and a silent CAS server.
//!
//! Needs the plugin `.so` files (`cargo build -p rewho -p rewho-plugin-cas
//! -p rewho-plugin-auth_tkt -p rewho-plugin-metadata_cache`), the venv with
//! django-mama-cas (`tests/python/requirements.txt`) and nginx.
#![cfg(feature = "server")]

mod common;
mod serve_support;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serve_support::{
    example, form_encode, free_port, wait_port, Caddy, Http, Nginx, Resp, Rewho, Upstream,
};

/// Seed 001's example who.ini, verbatim but for `cas_url` (`@CAS_URL@`). The seed elides the
/// auth_tkt section its `rememberer_name` and chains name (`...`); it is filled in here with
/// repoze.who's own dotted name, as a repoze.who deployment would have it.
const SEED_001: &str = "\
[plugin:casauth]
use = repoze.who.plugins.cas.main_plugin:make_plugin
cas_url = @CAS_URL@
cas_version = 3.0
attributes_name = attributes
rememberer_name = auth_tkt

[plugin:metadata_cache]
use = repoze.who.plugins.metadata_cache.memory:make_plugin
name = attributes

[plugin:auth_tkt]
use = repoze.who.plugins.auth_tkt:make_plugin
secret = seed-001-secret

[identifiers]
plugins =
    casauth
    auth_tkt
                  
[authenticators]
plugins =
    casauth
    auth_tkt

[challengers]
plugins =
    casauth

[mdproviders]
plugins = 
    metadata_cache
";

/// A running test CAS server.
struct CasServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl CasServer {
    fn start() -> CasServer {
        for p in ["cas", "auth_tkt", "metadata_cache"] {
            common::plugin_so(p);
        }
        let python = common::python("the test CAS server (django-mama-cas)");
        let script = common::workspace().join("tests/cas/run.py");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("cas.log")).unwrap();
        let child = Command::new(python)
            .arg(&script)
            .arg(port.to_string())
            .arg(dir.path().join("cas.sqlite3"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the CAS server");
        let mut cas = CasServer { child, port, dir };
        if !wait_port(port, Duration::from_secs(90)) {
            let _ = cas.child.kill();
            panic!(
                "the CAS server did not start (pip install -r tests/python/requirements.txt \
                 into the venv):\n{}",
                cas.log()
            );
        }
        cas
    }

    /// `cas_url`: the server's base, with the trailing slash repoze.who.plugins.cas wants.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/cas/", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cas.log")).unwrap_or_default()
    }
}

impl Drop for CasServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A who.ini in a temp folder.
struct Ini {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn ini(text: &str) -> Ini {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("who.ini");
    std::fs::write(&path, text).unwrap();
    Ini { _dir: dir, path }
}

/// Seed 001's who.ini for `cas_url`, with `cas_version` replaced when not 3.0.
fn seed_ini(cas_url: &str, version: &str) -> Ini {
    let text = SEED_001
        .replace("@CAS_URL@", cas_url)
        .replace("cas_version = 3.0", &format!("cas_version = {version}"));
    ini(&text)
}

/// A browser: follows nothing by itself, keeps cookies per host (not per port, as browsers
/// do), sends `Accept: text/html`.
struct Browser {
    http: Http,
    jar: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.split(':').next().unwrap_or(authority).to_owned()
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: Http::new(),
            jar: Mutex::new(BTreeMap::new()),
        }
    }

    fn cookie_header(&self, url: &str) -> String {
        let jar = self.jar.lock().unwrap();
        jar.get(&host_of(url))
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    fn cookie(&self, url: &str, name: &str) -> Option<String> {
        let jar = self.jar.lock().unwrap();
        jar.get(&host_of(url)).and_then(|c| c.get(name).cloned())
    }

    fn store(&self, url: &str, r: &Resp) {
        let mut jar = self.jar.lock().unwrap();
        let cookies = jar.entry(host_of(url)).or_default();
        for set in r.all("set-cookie") {
            let first = set.split(';').next().unwrap_or("").trim();
            let Some((name, value)) = first.split_once('=') else {
                continue;
            };
            let expired = set.to_ascii_lowercase().contains("max-age=0")
                || value == "INVALID"
                || value == "\"INVALID\"";
            if expired {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    async fn get(&self, url: &str) -> Resp {
        let cookie = self.cookie_header(url);
        let mut h = vec![("accept", "text/html,application/xhtml+xml,*/*;q=0.8")];
        if !cookie.is_empty() {
            h.push(("cookie", cookie.as_str()));
        }
        let r = self.http.get(url, &h).await;
        self.store(url, &r);
        r
    }

    async fn post_form(&self, url: &str, form: &str) -> Resp {
        let cookie = self.cookie_header(url);
        let mut h = vec![("accept", "text/html")];
        if !cookie.is_empty() {
            h.push(("cookie", cookie.as_str()));
        }
        let r = self.http.post_form(url, &h, form).await;
        self.store(url, &r);
        r
    }
}

/// The value of `<input name="csrfmiddlewaretoken" value="...">` in Django's form.
fn csrf_token(html: &str) -> String {
    let at = html
        .find("name=\"csrfmiddlewaretoken\"")
        .unwrap_or_else(|| panic!("no CSRF token in the CAS login form:\n{html}"));
    let rest = &html[at..];
    let v = rest.find("value=\"").unwrap() + 7;
    let end = rest[v..].find('"').unwrap();
    rest[v..v + end].to_owned()
}

/// Steps 1–3 of a login: the app sends the browser to CAS, the browser logs in there, CAS
/// sends it back with a ticket. Returns the ticket URL.
async fn to_cas_and_back(
    b: &Browser,
    cas: &CasServer,
    start: &str,
    user: &str,
    pw: &str,
) -> String {
    let r = b.get(start).await;
    assert_eq!(
        r.status, 302,
        "the app did not send the browser to CAS: {r:?}"
    );
    let login = r.header("location").unwrap().to_owned();
    assert_eq!(
        login,
        format!("{}login?service={}", cas.url(), form_encode(start)),
        "the challenge is not <cas_url>login?service=<the original URL>"
    );

    let form = b.get(&login).await;
    assert_eq!(form.status, 200, "CAS login form: {form:?}\n{}", cas.log());
    let token = csrf_token(&form.body);
    let r = b
        .post_form(
            &login,
            &format!(
                "csrfmiddlewaretoken={}&username={}&password={}",
                form_encode(&token),
                form_encode(user),
                form_encode(pw)
            ),
        )
        .await;
    assert_eq!(r.status, 302, "CAS refused the login: {r:?}\n{}", cas.log());
    let back = r.header("location").unwrap().to_owned();
    assert!(back.contains("ticket=ST-"), "CAS sent no ticket: {back}");
    let path_of = |u: &str| u.split('?').next().unwrap().to_owned();
    assert_eq!(
        path_of(&back),
        path_of(start),
        "CAS sent the browser elsewhere"
    );
    back
}

/// Step 4: the ticket request lands on `clean` with the auth_tkt cookie.
async fn land(b: &Browser, ticket_url: &str, clean: &str) -> Resp {
    let r = b.get(ticket_url).await;
    assert_eq!(
        r.status, 302,
        "the ticket request was not redirected: {r:?}"
    );
    // Absolute, or made relative by the edge when it points at the request's own origin.
    // Relative means exactly the clean URL's path and query, nothing shorter.
    let location = r.header("location").unwrap_or_default();
    let clean_target = clean
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(clean);
    assert!(
        location == clean || location == clean_target,
        "not redirected to the URL without the ticket: {location:?} for {clean:?}"
    );
    assert!(
        r.cookies().iter().any(|c| c.starts_with("auth_tkt=")),
        "the ticket request set no auth_tkt cookie: {r:?}"
    );
    r
}

/// The whole login at `base` (`http://127.0.0.1:PORT`): to CAS, log in, back with the
/// ticket, land on the clean URL. Returns the ticket URL (spent by now).
async fn full_login(b: &Browser, cas: &CasServer, base: &str, path: &str) -> String {
    let start = format!("{base}{path}");
    let ticket_url = to_cas_and_back(b, cas, &start, "alice", "wonderland").await;
    land(b, &ticket_url, &start).await;
    assert!(b.cookie(base, "auth_tkt").is_some());
    ticket_url
}

/// The demo page's identity row `key` (its `<code>` text, HTML-unescaped).
fn identity_row(page: &str, key: &str) -> Option<String> {
    let at = page.find(&format!("<tr><th>{key}</th><td><code>"))?;
    let rest = &page[at + key.len() + 23..];
    let end = rest.find("</code>")?;
    Some(
        rest[..end]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The attributes alice's login releases (tests/cas/casserver/attributes.py).
fn assert_alice_attributes(attributes: &str) {
    for want in ["alice@example.org", "Alice Liddell", "staff", "admins"] {
        assert!(
            attributes.contains(want),
            "{want} missing from {attributes}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_cas3_demo_login_and_attributes_replayed_on_cookie_requests() {
    let cas = CasServer::start();
    let who = seed_ini(&cas.url(), "3.0");
    let rewho = Rewho::start(&["--config", who.path.to_str().unwrap()]);
    let base = format!("http://{}", rewho.addr);
    let b = Browser::new();
    let t0 = Instant::now();
    let ticket_url = full_login(&b, &cas, &base, "/reports/q?year=2026&sort=asc").await;
    let cold = t0.elapsed();

    // The next request carries only the cookie: the user, and the attributes replayed by
    // metadata_cache.
    let t1 = Instant::now();
    let r = b.get(&format!("{base}/reports/q?year=2026&sort=asc")).await;
    let remembered = t1.elapsed();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("<h1>Hello, alice</h1>"), "{}", r.body);
    let attributes = identity_row(&r.body, "attributes")
        .unwrap_or_else(|| panic!("no attributes in the identity:\n{}", r.body));
    assert_alice_attributes(&attributes);
    assert!(
        attributes.contains("\"groups\": [\"admins\", \"staff\"]"),
        "a repeated attribute is not a list: {attributes}"
    );
    assert_eq!(
        identity_row(&r.body, "identifier").as_deref(),
        Some("auth_tkt"),
        "the replay was not on a cookie-only request"
    );
    assert!(
        rewho.wait_for_log("CAS ticket validated", Duration::from_secs(5)),
        "{}",
        rewho.log()
    );
    // The inline attempt of the async edge that stopped before blocking is not a failure.
    assert!(!rewho.log().contains("would block"), "{}", rewho.log());
    eprintln!("CAS 3.0 login, cold, 4 round trips through CAS: {cold:?}; remembered request: {remembered:?}");

    // A spent ticket, replayed by a fresh browser: refused, no identity, no redirect loop.
    let other = Browser::new();
    let r = other.get(&ticket_url).await;
    assert_eq!(r.status, 403, "a replayed ticket was not refused: {r:?}");
    assert!(r.body.contains("ticket was refused"), "{}", r.body);
    assert!(other.cookie(&base, "auth_tkt").is_none());
    assert!(
        rewho.wait_for_log("INVALID_TICKET", Duration::from_secs(5)),
        "no log line for the replayed ticket:\n{}",
        rewho.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas2_and_cas1_logins() {
    let cas = CasServer::start();
    // CAS 2.0 (serviceValidate): mama-cas releases attributes there too.
    let who = seed_ini(&cas.url(), "2.0");
    let rewho = Rewho::start(&["--config", who.path.to_str().unwrap()]);
    let base = format!("http://{}", rewho.addr);
    let b = Browser::new();
    full_login(&b, &cas, &base, "/v2").await;
    let r = b.get(&format!("{base}/v2")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("<h1>Hello, alice</h1>"), "{}", r.body);
    assert_alice_attributes(&identity_row(&r.body, "attributes").unwrap_or_default());
    assert!(cas.log().contains("/cas/serviceValidate?"), "{}", cas.log());

    // CAS 1.0 (validate): the user, no attributes (an empty map from metadata_cache).
    let who1 = seed_ini(&cas.url(), "1.0");
    let rewho1 = Rewho::start(&["--config", who1.path.to_str().unwrap()]);
    let base1 = format!("http://{}", rewho1.addr);
    let b1 = Browser::new();
    full_login(&b1, &cas, &base1, "/v1").await;
    let r = b1.get(&format!("{base1}/v1")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("<h1>Hello, alice</h1>"), "{}", r.body);
    assert!(!r.body.contains("alice@example.org"), "{}", r.body);
    assert!(cas.log().contains("/cas/validate?"), "{}", cas.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_wrong_service_tickets_are_refused() {
    let cas = CasServer::start();
    let who = seed_ini(&cas.url(), "3.0");
    let rewho = Rewho::start(&["--config", who.path.to_str().unwrap()]);
    let base = format!("http://{}", rewho.addr);

    // A ticket CAS never issued.
    let b = Browser::new();
    let r = b.get(&format!("{base}/a?ticket=ST-1-forged")).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(b.cookie(&base, "auth_tkt").is_none());
    assert!(r.body.contains(&format!("href=\"{base}/a\"")), "{}", r.body);

    // Not a ticket at all: refused before asking CAS.
    let r = b.get(&format!("{base}/a?ticket=%0Abad%20ticket")).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(rewho.wait_for_log("not a plausible ticket", Duration::from_secs(5)));

    // A real ticket, issued for /a, presented at /b: CAS says INVALID_SERVICE.
    let b = Browser::new();
    let ticket_url = to_cas_and_back(&b, &cas, &format!("{base}/a"), "alice", "wonderland").await;
    let elsewhere = ticket_url.replacen("/a?", "/b?", 1);
    let r = b.get(&elsewhere).await;
    assert_eq!(
        r.status, 403,
        "a ticket for another service was accepted: {r:?}"
    );
    assert!(b.cookie(&base, "auth_tkt").is_none());
    assert!(
        rewho.wait_for_log("INVALID_SERVICE", Duration::from_secs(5)),
        "{}",
        rewho.log()
    );
    // mama-cas spends a ticket on any validation attempt: it is gone for /a too.
    let r = b.get(&ticket_url).await;
    assert_eq!(r.status, 403, "{r:?}");

    // A wrong password at CAS never yields a ticket.
    let b = Browser::new();
    let r = b.get(&format!("{base}/c")).await;
    let login = r.header("location").unwrap().to_owned();
    let form = b.get(&login).await;
    let token = csrf_token(&form.body);
    let r = b
        .post_form(
            &login,
            &format!("csrfmiddlewaretoken={token}&username=alice&password=nope"),
        )
        .await;
    assert_eq!(r.status, 200, "CAS accepted a wrong password: {r:?}");
    assert!(
        rewho.log().matches("refused").count() >= 3,
        "{}",
        rewho.log()
    );
    assert!(
        !rewho.log().contains("ST-1-forged"),
        "a ticket was logged:\n{}",
        rewho.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_silent_and_foreign_servers_give_no_identity_in_bounded_time() {
    common::plugin_so("cas");
    // Nothing listens on a closed port.
    let closed = free_port();
    // This one accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr: SocketAddr = silent.local_addr().unwrap();
    // And this one answers 200 with something that is not a CAS answer.
    let not_cas = Upstream::start().await;
    for (url, want) in [
        (format!("http://127.0.0.1:{closed}/cas/"), "unreachable"),
        (format!("http://{silent_addr}/cas/"), "timed out"),
        (format!("{}/cas/", not_cas.url()), "not understood"),
    ] {
        let text = SEED_001.replace("@CAS_URL@", &url).replace(
            "rememberer_name = auth_tkt",
            "rememberer_name = auth_tkt\ntimeout_ms = 700",
        );
        let who = ini(&text);
        let rewho = Rewho::start(&["--config", who.path.to_str().unwrap()]);
        let b = Browser::new();
        let t = Instant::now();
        let r = b.get(&rewho.url("/x?ticket=ST-1-abc")).await;
        let took = t.elapsed();
        assert_eq!(r.status, 502, "{url}: {r:?}");
        assert!(r.body.contains("could not be reached"), "{}", r.body);
        assert!(took < Duration::from_secs(5), "{url}: took {took:?}");
        assert!(b.cookie(&rewho.url("/"), "auth_tkt").is_none());
        assert!(
            rewho.wait_for_log(want, Duration::from_secs(5)),
            "{url}: no `{want}` line:\n{}",
            rewho.log()
        );
        // Without a ticket, the challenge still sends browsers to CAS.
        let r = b.get(&rewho.url("/y")).await;
        assert_eq!(r.status, 302, "{r:?}");
    }
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_path_forgets_and_goes_to_cas_logout() {
    let cas = CasServer::start();
    let text = SEED_001.replace("@CAS_URL@", &cas.url()).replace(
        "rememberer_name = auth_tkt",
        "rememberer_name = auth_tkt\npath_logout = .*/logout$\npath_toskip = .*/public/.*",
    );
    let who = ini(&text);
    let rewho = Rewho::start(&["--config", who.path.to_str().unwrap()]);
    let base = format!("http://{}", rewho.addr);
    let b = Browser::new();
    full_login(&b, &cas, &base, "/home").await;
    let r = b.get(&format!("{base}/logout")).await;
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some(
            format!(
                "{}logout?service={}",
                cas.url(),
                form_encode(&format!("{base}/"))
            )
            .as_str()
        )
    );
    assert!(
        b.cookie(&base, "auth_tkt").is_none(),
        "logout kept the cookie"
    );
    // Skipped paths never validate a ticket (and are challenged as usual).
    let r = b.get(&format!("{base}/public/x?ticket=ST-1-abc")).await;
    assert_eq!(r.status, 302, "{r:?}");
    assert!(!rewho.log().contains("ST-1-abc"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_mode_and_nginx_and_caddy_forward_auth() {
    let cas = CasServer::start();
    let who = seed_ini(&cas.url(), "3.0");
    let upstream = Upstream::start().await;

    // `rewho serve --upstream`: the app never sees the ticket request, then sees alice.
    let proxy = Rewho::start(&[
        "--config",
        who.path.to_str().unwrap(),
        "--upstream",
        &upstream.url(),
    ]);
    let base = format!("http://{}", proxy.addr);
    let b = Browser::new();
    // The app asks for a login by answering 401 (repoze.who's rule); the ticket request is
    // answered by rewho, so the app sees neither it nor the ticket.
    full_login(&b, &cas, &base, "/status/401").await;
    assert_eq!(
        upstream.seen.lock().unwrap().len(),
        1,
        "the app saw the ticket request"
    );
    let r = b.get(&format!("{base}/app/page?x=1")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.starts_with("path: /app/page\n"), "{}", r.body);
    assert!(r.body.contains("\nx-remote-user: alice\n"), "{}", r.body);

    // Forward-auth behind the shipped nginx example (ports changed only).
    let auth = Rewho::start(&["--config", who.path.to_str().unwrap()]);
    let nginx = Nginx::start_site(&example("nginx/rewho.conf"), |text, port| {
        text.replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
            .replace("127.0.0.1:8080", &auth.addr.to_string())
            .replace("127.0.0.1:3000", &upstream.addr.to_string())
    });
    let base = format!("http://127.0.0.1:{}", nginx.port);
    let before = upstream.seen.lock().unwrap().len();
    let b = Browser::new();
    full_login(&b, &cas, &base, "/fa/page?y=2").await;
    assert_eq!(
        upstream.seen.lock().unwrap().len(),
        before,
        "the app saw the ticket request"
    );
    let r = b.get(&format!("{base}/fa/page?y=2")).await;
    assert_eq!(r.status, 200, "{r:?}\n{}", nginx.error_log());
    assert!(r.body.starts_with("path: /fa/page\n"), "{}", r.body);
    assert!(r.body.contains("\nx-remote-user: alice\n"), "{}", r.body);
    assert!(
        !nginx.error_log().contains("[emerg]"),
        "{}",
        nginx.error_log()
    );

    // Forward-auth behind the shipped Caddyfile: Caddy hands rewho's redirect and cookie on.
    let caddy = Caddy::start(&example("caddy/Caddyfile"), |text, port| {
        text.replace("\n:80 {", &format!("\n:{port} {{"))
            .replace("127.0.0.1:8080", &auth.addr.to_string())
            .replace("127.0.0.1:3000", &upstream.addr.to_string())
    });
    let base = format!("http://127.0.0.1:{}", caddy.port);
    let before = upstream.seen.lock().unwrap().len();
    let b = Browser::new();
    full_login(&b, &cas, &base, "/caddy/page?z=3").await;
    assert_eq!(
        upstream.seen.lock().unwrap().len(),
        before,
        "the app saw the ticket request"
    );
    let r = b.get(&format!("{base}/caddy/page?z=3")).await;
    assert_eq!(r.status, 200, "{r:?}\n{}", caddy.log());
    assert!(r.body.starts_with("path: /caddy/page\n"), "{}", r.body);
    assert!(r.body.contains("\nx-remote-user: alice\n"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tower_layer_in_process() {
    use axum::routing::get;
    use rewho::{ApiFactory, WhoIdentity, WhoLayer};

    let cas = CasServer::start();
    let who = seed_ini(&cas.url(), "3.0");
    let factory = ApiFactory::from_config_file(&who.path).unwrap_or_else(|e| panic!("{e}"));
    async fn me(WhoIdentity(id): WhoIdentity) -> String {
        let attributes = id
            .get("attributes")
            .map(|a| serde_json::to_string(a).unwrap())
            .unwrap_or_default();
        format!(
            "user={}\nattributes={attributes}\n",
            id.userid().unwrap().to_display_string()
        )
    }
    let app = axum::Router::new()
        .fallback(get(me))
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
    let b = Browser::new();
    full_login(&b, &cas, &base, "/layer?z=3").await;
    let r = b.get(&format!("{base}/layer?z=3")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.starts_with("user=alice\n"), "{}", r.body);
    assert_alice_attributes(&r.body);
    assert!(
        r.body.contains("\"groups\":[\"admins\",\"staff\"]"),
        "{}",
        r.body
    );
    server.abort();
}
