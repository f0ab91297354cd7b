//! An existing repoze.who `who.ini` — dotted Python names for auth_tkt, basicauth, htpasswd,
//! redirector, the default classifier and decider — runs unchanged: `rewho check` accepts it,
//! and the same requests get the same answers from rewho as from the real Python repoze.who
//! (tests/python/whoini_oracle.py), with auth_tkt cookies crossing over in both directions.
//! The password file is written by Apache's own `htpasswd`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rewho::{ApiFactory, Identity, OwnedRequest};
use serde_json::{json, Value as Json};

/// repoze.who's sample config, as users have it: only dotted names, nothing rewho-specific.
const WHO_INI: &str = "\
[plugin:auth_tkt]
use = repoze.who.plugins.auth_tkt:make_plugin
secret = s33kr1t
cookie_name = oatmeal

[plugin:basicauth]
use = repoze.who.plugins.basicauth:make_plugin
realm = sample

[plugin:htpasswd]
use = repoze.who.plugins.htpasswd:make_plugin
filename = %(here)s/passwd
check_fn = repoze.who.plugins.htpasswd:crypt_check

[plugin:redirector]
use = repoze.who.plugins.redirector:make_plugin
login_url = /login.html

[general]
request_classifier = repoze.who.classifiers:default_request_classifier
challenge_decider = repoze.who.classifiers:default_challenge_decider
remote_user_key = REMOTE_USER

[identifiers]
plugins =
      auth_tkt
      basicauth

[authenticators]
plugins =
      auth_tkt
      htpasswd

[challengers]
plugins =
      redirector;browser
      basicauth

[mdproviders]
plugins =
";

/// A folder with the who.ini and a password file from Apache's `htpasswd`: `alice` (bcrypt),
/// `bob` (DES crypt, the one format Python's `crypt_check` verifies everywhere), `carol`
/// (`{SHA}`).
fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    for (flags, user, password) in [
        ("-cbB", "alice", "wonderland"),
        ("-bd", "bob", "builder"),
        ("-bs", "carol", "sha-secret"),
    ] {
        let out = Command::new("htpasswd")
            .args([flags])
            .arg(&passwd)
            .args([user, password])
            .output()
            .expect("run Apache's htpasswd (apache2-utils; `bash .ci/install`)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ini = dir.path().join("who.ini");
    std::fs::write(&ini, WHO_INI).unwrap();
    (dir, ini)
}

/// The real repoze.who's answers to `requests` on `ini`.
fn python_answers(ini: &Path, requests: &Json) -> Vec<Json> {
    let mut child = Command::new(common::python(
        "this test compares with the real repoze.who",
    ))
    .arg(common::workspace().join("tests/python/whoini_oracle.py"))
    .arg(ini)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("run python");
    serde_json::to_writer(child.stdin.take().unwrap(), requests).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "whoini_oracle.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Json>>(&out.stdout).unwrap()
}

/// A request as the oracle reads it, always with `Host: localhost` so both sides build the
/// same URLs.
fn request(method: &str, path: &str, query: &str, headers: &[(&str, &str)]) -> Json {
    let mut all = vec![json!(["Host", "localhost"])];
    all.extend(headers.iter().map(|(n, v)| json!([n, v])));
    json!({"method": method, "path": path, "query": query, "headers": all})
}

fn owned(request: &Json) -> OwnedRequest {
    let path = request["path"].as_str().unwrap();
    let query = request["query"].as_str().unwrap_or("");
    let target = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let mut req = OwnedRequest::get(&target).method(request["method"].as_str().unwrap());
    for h in request["headers"].as_array().unwrap() {
        req = req.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
    }
    req
}

/// rewho's answer in the oracle's shape: the userid, or the challenge's status and headers.
fn rewho_answer(factory: &ApiFactory, request: &Json) -> Json {
    owned(request).with_view(|view| {
        let mut api = factory.api(view);
        if let Some(identity) = api.authenticate() {
            let userid = identity.userid().unwrap().to_display_string();
            return json!({"userid": userid, "challenge": null});
        }
        let challenge = api.challenge(401, &[]).map(|r| {
            json!({
                "status": r.status,
                "headers": r.headers.iter()
                    .map(|h| json!([h.name.as_str(), h.value.as_str()]))
                    .collect::<Vec<_>>(),
            })
        });
        json!({"userid": null, "challenge": challenge})
    })
}

fn header<'a>(challenge: &'a Json, name: &str) -> Option<&'a str> {
    challenge["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .and_then(|h| h[1].as_str())
}

/// `Location`, made absolute against the request's site (WebOb makes it absolute; both are
/// the same redirect for a browser).
fn location(challenge: &Json) -> Option<String> {
    header(challenge, "Location").map(|l| {
        if l.starts_with('/') {
            format!("http://localhost{l}")
        } else {
            l.to_owned()
        }
    })
}

/// The status code of a challenge: rewho gives a number, Python a status line.
fn status(challenge: &Json) -> u64 {
    challenge["status"].as_u64().unwrap_or_else(|| {
        let line = challenge["status"].as_str().unwrap();
        line.split(' ').next().unwrap().parse().unwrap()
    })
}

#[test]
fn rewho_check_accepts_the_repoze_who_ini_unchanged() {
    let (_dir, ini) = setup();
    let out = Command::new(env!("CARGO_BIN_EXE_rewho"))
        .args(["check", "--config"])
        .arg(&ini)
        .env_remove("REWHO_PLUGIN_PATH")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for lib in ["auth_tkt", "basicauth", "htpasswd", "redirector"] {
        assert!(
            stdout.contains(&format!("librewho_plugin_{lib}.so")),
            "{lib} not loaded from its bundled library:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("[challengers]\n  1. redirector;browser"),
        "{stdout}"
    );
    // The dotted names resolve to the built-in classifier and decider.
    for line in [
        "request_classifier: repoze.who.classifiers:default_request_classifier  (<builtin>)",
        "challenge_decider: repoze.who.classifiers:default_challenge_decider  (<builtin>)",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
}

#[test]
fn same_answers_as_python_repoze_who() {
    let (_dir, ini) = setup();
    let factory = ApiFactory::from_config_file(&ini).expect("the repoze.who who.ini loads");
    let browser = [
        ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"),
        ("Accept", "text/html,application/xhtml+xml"),
    ];
    let bob = common::basic("bob", "builder");
    let wrong = common::basic("bob", "not-his-password");
    let unknown = common::basic("mallory", "builder");
    let requests = json!([
        request("GET", "/app", "", &[("Authorization", &bob)]),
        request("GET", "/app", "", &[("Authorization", &wrong)]),
        request("GET", "/app", "", &[("Authorization", &unknown)]),
        request("GET", "/app", "a=1&b=two", &browser),
        // xmlpost: not a browser, so the redirector is skipped and Basic challenges.
        request("POST", "/rpc", "", &[("Content-Type", "text/xml")]),
        // WebDAV: `dav`, also a Basic challenge.
        request(
            "PROPFIND",
            "/files/",
            "",
            &[("User-Agent", "Microsoft-WebDAV-MiniRedir/10")]
        ),
        request(
            "GET",
            "/app",
            "",
            &[("Authorization", "Basic !!not-base64!!")]
        ),
    ]);
    let python = python_answers(&ini, &requests);
    for (i, (req, py)) in requests.as_array().unwrap().iter().zip(&python).enumerate() {
        let ours = rewho_answer(&factory, req);
        assert_eq!(
            ours["userid"], py["userid"],
            "request {i} {req}: rewho {ours} python {py}"
        );
        match (&ours["challenge"], &py["challenge"]) {
            (Json::Null, Json::Null) => {}
            (o, p) if !o.is_null() && !p.is_null() => {
                assert_eq!(
                    status(o),
                    status(p),
                    "request {i} {req}: rewho {o} python {p}"
                );
                assert_eq!(location(o), location(p), "request {i} {req}");
                assert_eq!(
                    header(o, "WWW-Authenticate"),
                    header(p, "WWW-Authenticate"),
                    "request {i} {req}"
                );
            }
            (o, p) => panic!("request {i} {req}: challenge rewho {o} python {p}"),
        }
    }
    // The expected outcomes, so the comparison cannot pass by both sides being wrong.
    assert_eq!(python[0]["userid"], "bob");
    assert!(python[1]["userid"].is_null() && python[2]["userid"].is_null());
    assert_eq!(status(&python[3]["challenge"]), 302);
    assert_eq!(
        location(&python[3]["challenge"]).as_deref(),
        Some("http://localhost/login.html")
    );
    assert_eq!(status(&python[4]["challenge"]), 401);
    assert_eq!(
        header(&python[4]["challenge"], "WWW-Authenticate"),
        Some("Basic realm=\"sample\"")
    );
    assert_eq!(status(&python[5]["challenge"]), 401);
}

/// The value of the `oatmeal` cookie in the first `Set-Cookie` header.
fn cookie_value(headers: impl IntoIterator<Item = (String, String)>) -> String {
    let (_, set_cookie) = headers
        .into_iter()
        .find(|(n, v)| n.eq_ignore_ascii_case("Set-Cookie") && v.starts_with("oatmeal="))
        .expect("a Set-Cookie for oatmeal");
    set_cookie
        .trim_start_matches("oatmeal=")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn login_cookies_cross_over_between_python_and_rewho() {
    let (_dir, ini) = setup();
    let factory = ApiFactory::from_config_file(&ini).unwrap();

    // Python logs bob in; rewho honours the cookie.
    let py = python_answers(
        &ini,
        &json!([{"path": "/login", "login": "bob", "password": "builder",
                 "headers": [["Host", "localhost"]]}]),
    );
    assert_eq!(py[0]["userid"], "bob", "{py:?}");
    let py_cookie = cookie_value(py[0]["headers"].as_array().unwrap().iter().map(|h| {
        (
            h[0].as_str().unwrap().to_owned(),
            h[1].as_str().unwrap().to_owned(),
        )
    }));
    let cookie_header = format!("oatmeal={py_cookie}");
    let req = request("GET", "/app", "", &[("Cookie", &cookie_header)]);
    assert_eq!(rewho_answer(&factory, &req)["userid"], "bob");

    // rewho logs bob in through the same identifier; Python honours the cookie.
    let (identity, headers) = OwnedRequest::get("/login")
        .header("Host", "localhost")
        .with_view(|view| {
            let mut api = factory.api(view);
            let mut credentials = Identity::new();
            credentials.insert("login", "bob");
            credentials.insert("password", "builder");
            api.login(credentials, Some("auth_tkt"))
        });
    let identity = identity.expect("rewho logs bob in");
    assert_eq!(identity.userid().unwrap().as_str(), Some("bob"));
    let ours = cookie_value(
        headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_string())),
    );
    let cookie_header = format!("oatmeal={ours}");
    let py = python_answers(
        &ini,
        &json!([request("GET", "/app", "", &[("Cookie", &cookie_header)])]),
    );
    assert_eq!(
        py[0]["userid"], "bob",
        "Python refused rewho's cookie {ours}: {py:?}"
    );

    // A wrong password logs nobody in, on both sides.
    let py = python_answers(
        &ini,
        &json!([{"path": "/login", "login": "bob", "password": "nope",
                 "headers": [["Host", "localhost"]]}]),
    );
    assert!(py[0]["userid"].is_null());
    let (identity, _) = OwnedRequest::get("/login").with_view(|view| {
        let mut credentials = Identity::new();
        credentials.insert("login", "bob");
        credentials.insert("password", "nope");
        factory.api(view).login(credentials, Some("auth_tkt"))
    });
    assert!(identity.is_none());
}

/// Python's `crypt_check` depends on the platform's crypt(3) and never reads `{SHA}`; rewho
/// maps it to auto-detection, so every format Apache's `htpasswd` writes keeps working.
#[test]
fn crypt_check_verifies_every_htpasswd_format() {
    let (_dir, ini) = setup();
    let factory = ApiFactory::from_config_file(&ini).unwrap();
    for (user, password) in [
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("carol", "sha-secret"),
    ] {
        let ok = request(
            "GET",
            "/app",
            "",
            &[("Authorization", &common::basic(user, password))],
        );
        assert_eq!(rewho_answer(&factory, &ok)["userid"], user);
        let bad = request(
            "GET",
            "/app",
            "",
            &[("Authorization", &common::basic(user, "x"))],
        );
        assert!(rewho_answer(&factory, &bad)["userid"].is_null(), "{user}");
    }
}
