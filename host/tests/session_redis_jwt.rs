//! `redis_session` → `jwt` end to end, through plugins loaded from their `.so`, a real
//! `redis-server` started here on a free loopback port, and the real Python itsdangerous
//! signing the session cookies.
//!
//! Each test drives the [`Api`] the way an edge does (ingress, then egress with 200 when
//! authenticated or 401 when not) and applies the downstream header edits the way every edge
//! must (strip incoming copies of each edited name, then set), so "upstream" below is the
//! header list a proxied backend or a wrapped handler receives.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{who_ini, TestClock, WhoIni};
use rewho::{
    ApiFactory, ApiFactoryBuilder, Config, Egress, HeaderField, Identity, Ingress, OwnedRequest,
    Value,
};

/// The host clock every factory here runs on (JWT `exp`/`nbf` are checked against it).
const NOW: u64 = 1_700_000_000;
const UUID: &str = "6f1c2a9e-0000-4000-8000-000000000001";
const SESSION_SECRET: &str = "session-secret";
const JWT_SECRET: &str = "jwt-secret";

// ---------------------------------------------------------------------------------------------
// A real redis-server.

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A private redis-server on a free loopback port, killed on drop.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

/// A RESP reply, as much of it as these tests need.
#[derive(Debug, PartialEq)]
enum Reply {
    Nil,
    Status(String),
    Int(i64),
    Bulk(String),
    Error(String),
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Redis {
    fn start() -> Redis {
        assert!(
            Path::new(REDIS_SERVER).exists(),
            "{REDIS_SERVER} is missing: these tests start a real Redis; install it with \
             `bash .ci/install` (Debian package redis-server)"
        );
        let mut redis = Redis {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
        };
        redis.spawn();
        redis
    }

    /// Starts (or restarts) the server on this fixture's port, empty.
    fn spawn(&mut self) {
        assert!(self.child.is_none());
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.try_cmd(&["PING"]).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn try_cmd(&self, args: &[&str]) -> std::io::Result<Reply> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        stream.write_all(out.as_bytes())?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        let (kind, rest) = line.split_at(1);
        Ok(match kind {
            "+" => Reply::Status(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(rest.parse().unwrap()),
            "$" if rest == "-1" => Reply::Nil,
            "$" => {
                let mut buf = vec![0; rest.parse::<usize>().unwrap() + 2];
                reader.read_exact(&mut buf)?;
                buf.truncate(buf.len() - 2);
                Reply::Bulk(String::from_utf8(buf).unwrap())
            }
            other => panic!("unexpected RESP reply {other}{rest}"),
        })
    }

    fn cmd(&self, args: &[&str]) -> Reply {
        self.try_cmd(args).expect("talk to the test redis-server")
    }

    /// Stores a session's JWT under `sess:<uuid>` with a TTL (None: no expiry).
    fn put_session(&self, uuid: &str, jwt: &str, ttl: Option<u64>) {
        let key = format!("sess:{uuid}");
        let reply = match ttl {
            Some(t) => self.cmd(&["SET", &key, jwt, "EX", &t.to_string()]),
            None => self.cmd(&["SET", &key, jwt]),
        };
        assert_eq!(reply, Reply::Status("OK".into()));
    }

    fn exists(&self, uuid: &str) -> bool {
        self.cmd(&["EXISTS", &format!("sess:{uuid}")]) == Reply::Int(1)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// The Python oracles.

fn run_python(script: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new(common::python(
        "the session tests sign cookies with the real itsdangerous",
    ))
    .arg(common::workspace().join("tests/python").join(script))
    .args(args)
    .output()
    .expect("run python");
    assert!(
        out.status.success(),
        "{script} failed (run `bash tests/python/setup-venv.sh`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `itsdangerous.Signer(secret, digest_method=hashlib.<alg>).sign(value)`.
fn py_sign(secret: &str, alg: &str, value: &str) -> String {
    run_python(
        "itsdangerous_oracle.py",
        &["sign", "--secret", secret, "--alg", alg, value],
    )
    .remove(0)
}

/// An HS256 JWT (or `alg`) over `claims`, minted by Python's hmac.
fn mint(secret: &str, alg: &str, claims: &str) -> String {
    run_python("jwt_mint.py", &["--secret", secret, "--alg", alg, claims]).remove(0)
}

fn alice_jwt(exp: u64) -> String {
    mint(
        JWT_SECRET,
        "HS256",
        &format!(
            r#"{{"sub":"alice","email":"alice@example.org","groups":["admin","staff"],
                "profile":{{"lang":"de","age":42}},"exp":{exp}}}"#
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Factories, and an edge's view of one request.

fn ini_text(redis_url: &str, session_extra: &str, jwt_extra: &str) -> String {
    // The built plugins must exist; say how to build them if not.
    common::plugin_so("redis_session");
    common::plugin_so("jwt");
    format!(
        r#"
[plugin:session]
use = redis_session
secret_key = {SESSION_SECRET}
redis_url = {redis_url}
key_prefix = sess:
redis_timeout = 0.5
redis_retry_interval = 0.3
{session_extra}

[plugin:jwt]
use = jwt
secret = {JWT_SECRET}
leeway = 5
{jwt_extra}

[plugin:chal]
use = @TESTKIT@:marker_challenger

[identifiers]
plugins =
    session
    jwt

[authenticators]
plugins = jwt

[challengers]
plugins = chal
"#
    )
}

fn factory_from(text: &str) -> (WhoIni, ApiFactory) {
    let ini = who_ini(text);
    let config = Config::from_file(&ini.path).unwrap_or_else(|e| panic!("{e}"));
    let f = ApiFactoryBuilder::from_config(&config)
        .clock(TestClock::at(NOW).clock())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    (ini, f)
}

fn factory(redis: &Redis, session_extra: &str) -> (WhoIni, ApiFactory) {
    factory_from(&ini_text(&redis.url(), session_extra, ""))
}

/// What an edge does with one request.
#[derive(Debug)]
struct Outcome {
    /// 200 when authenticated (the request goes upstream), else the challenge's status.
    status: u16,
    /// `REMOTE_USER` as a handler sees it.
    remote_user: Option<Value>,
    identity: Option<Identity>,
    /// The request headers the upstream / wrapped handler receives.
    upstream: Vec<(String, String)>,
    /// Headers added to the client's response (remember or challenge headers).
    client: Vec<HeaderField>,
    elapsed: Duration,
}

impl Outcome {
    fn upstream(&self, name: &str) -> Vec<&str> {
        self.upstream
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn client(&self, name: &str) -> Vec<&str> {
        self.client
            .iter()
            .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
            .collect()
    }
}

fn gate(f: &ApiFactory, req: &OwnedRequest) -> Outcome {
    let start = Instant::now();
    req.with_view(|view| {
        let mut api = f.api(view);
        assert!(matches!(api.ingress(), Ingress::Continue));
        let identity = api.identity().cloned();
        let remote_user = api.environ().get("REMOTE_USER").cloned();
        // Every edge: drop incoming copies of each edited name, then apply the edits.
        let edits = api.environ().downstream_edits().to_vec();
        let mut upstream: Vec<(String, String)> = req
            .headers
            .iter()
            .filter(|(n, _)| !edits.iter().any(|e| e.name.eq_ignore_ascii_case(n)))
            .cloned()
            .collect();
        for e in &edits {
            if let Some(v) = e.value.as_ref().into_option() {
                upstream.push((e.name.to_string(), v.to_string()));
            }
        }
        let (status, client) = match api.egress(if identity.is_some() { 200 } else { 401 }, &[]) {
            Egress::Remember(h) => (200, h),
            Egress::Challenge(r) => (r.status, r.headers.to_vec()),
            Egress::NoChallenger => panic!("no challenger answered"),
        };
        Outcome {
            status,
            remote_user,
            identity,
            upstream,
            client,
            elapsed: start.elapsed(),
        }
    })
}

fn with_cookie(signed: &str) -> OwnedRequest {
    OwnedRequest::get("/app").header("Cookie", &format!("theme=dark; session_uuid={signed}"))
}

/// Asserts the documented "no session" outcome: challenged, nobody upstream, no Authorization
/// set by us, no UUID header.
fn assert_anonymous(o: &Outcome, why: &str) {
    assert_eq!(o.status, 401, "{why}: {o:?}");
    assert!(o.identity.is_none() && o.remote_user.is_none(), "{why}");
    assert!(o.upstream("X-IST-Session-UUID").is_empty(), "{why}");
    assert!(
        o.elapsed < Duration::from_secs(2),
        "{why}: took {:?}",
        o.elapsed
    );
}

// ---------------------------------------------------------------------------------------------
// Captured logs.

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

/// Runs `f` with this thread's logs captured (plugins log through the host's `tracing`).
fn capture<R>(f: impl FnOnce() -> R) -> (R, String) {
    common::interested_global_subscriber();
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    (r, text)
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn valid_session_sends_bearer_upstream_and_the_jwt_userid_to_the_handler() {
    let redis = Redis::start();
    let (_ini, f) = factory(&redis, "");
    let jwt = alice_jwt(NOW + 600);
    redis.put_session(UUID, &jwt, Some(86_400));
    let signed = py_sign(SESSION_SECRET, "sha256", UUID);

    let via_cookie = with_cookie(&signed);
    let via_header = OwnedRequest::get("/app").header("X-IST-Session", &signed);
    for req in [via_cookie, via_header] {
        let o = gate(&f, &req);
        assert_eq!(o.status, 200, "{o:?}");
        assert_eq!(o.remote_user, Some(Value::from("alice")));
        assert_eq!(o.upstream("Authorization"), [format!("Bearer {jwt}")]);
        assert_eq!(o.upstream("X-IST-Session-UUID"), [UUID]);
        let id = o.identity.unwrap();
        assert_eq!(id.get_str("identifier"), Some("session"));
        assert_eq!(id.get_str("authenticator"), Some("jwt"));
        assert_eq!(id.get_str("session_uuid"), Some(UUID));
        // The other claims are metadata, nested as JSON nests them.
        assert_eq!(id.get_str("email"), Some("alice@example.org"));
        assert_eq!(id.get("groups"), Some(&Value::from(vec!["admin", "staff"])));
        let profile = id.get("profile").and_then(Value::as_map).unwrap();
        assert_eq!(profile.get("age"), Some(&Value::Int(42)));
        assert!(!id.contains_key("sub"), "the userid claim is the userid");
        // No refresh configured: nothing for the client.
        assert!(o.client.is_empty(), "{:?}", o.client);
    }
}

#[test]
fn sha1_sessions_signed_by_python_are_accepted_when_configured() {
    let redis = Redis::start();
    let (_ini, f) = factory(&redis, "signature_algorithm = sha1");
    redis.put_session(UUID, &alice_jwt(NOW + 600), Some(600));
    let o = gate(&f, &with_cookie(&py_sign(SESSION_SECRET, "sha1", UUID)));
    assert_eq!(o.remote_user, Some(Value::from("alice")));
    // A sha256 signature is not a sha1 one.
    let o = gate(&f, &with_cookie(&py_sign(SESSION_SECRET, "sha256", UUID)));
    assert_anonymous(&o, "sha256 cookie, sha1 configured");
}

#[test]
fn tampered_or_foreign_signatures_are_anonymous() {
    let redis = Redis::start();
    let (_ini, f) = factory(&redis, "");
    redis.put_session(UUID, &alice_jwt(NOW + 600), Some(600));
    let signed = py_sign(SESSION_SECRET, "sha256", UUID);
    let (value, sig) = signed.rsplit_once('.').unwrap();
    let other_uuid = "6f1c2a9e-0000-4000-8000-000000000002";
    let flipped = if sig.starts_with('A') { 'B' } else { 'A' };
    let cases = [
        (
            "flipped signature",
            format!("{value}.{flipped}{}", &sig[1..]),
        ),
        (
            "another uuid, same signature",
            format!("{other_uuid}.{sig}"),
        ),
        ("unsigned", UUID.to_owned()),
        ("other secret", py_sign("not-the-secret", "sha256", UUID)),
        ("garbage", "....".to_owned()),
    ];
    let (_, logs) = capture(|| {
        for (why, cookie) in &cases {
            assert_anonymous(&gate(&f, &with_cookie(cookie)), why);
        }
    });
    assert!(logs.contains("bad signature"), "{logs}");
    assert!(!logs.contains(sig), "the signature is never logged");
}

#[test]
fn unknown_or_deleted_session_is_anonymous() {
    let redis = Redis::start();
    let (_ini, f) = factory(&redis, "");
    let signed = py_sign(SESSION_SECRET, "sha256", UUID);
    let (o, logs) = capture(|| gate(&f, &with_cookie(&signed)));
    assert_anonymous(&o, "no key");
    assert!(logs.contains("no session in Redis"), "{logs}");
    // A session that existed and was removed.
    redis.put_session(UUID, &alice_jwt(NOW + 600), Some(600));
    assert_eq!(gate(&f, &with_cookie(&signed)).status, 200);
    redis.cmd(&["DEL", &format!("sess:{UUID}")]);
    assert_anonymous(&gate(&f, &with_cookie(&signed)), "deleted key");
    // Values that are not tokens: never copied into a header.
    redis.put_session(UUID, "eyJ.a.b\r\nX-Remote-User: admin", Some(600));
    let o = gate(&f, &with_cookie(&signed));
    assert_anonymous(&o, "header injection");
    assert!(o.upstream("Authorization").is_empty() && o.upstream("X-Remote-User").is_empty());
    redis.cmd(&["DEL", &format!("sess:{UUID}")]);
    redis.cmd(&["HSET", &format!("sess:{UUID}"), "a", "b"]);
    let (o, logs) = capture(|| gate(&f, &with_cookie(&signed)));
    assert_anonymous(&o, "wrong Redis type");
    assert!(logs.contains("Redis refused the session lookup"), "{logs}");
    assert!(
        !logs.contains("unreachable"),
        "a per-key error is no outage: {logs}"
    );
}

#[test]
fn expired_jwt_is_rejected_against_the_host_clock_with_leeway() {
    let redis = Redis::start();
    let (_ini, f) = factory(&redis, "");
    let signed = py_sign(SESSION_SECRET, "sha256", UUID);
    // leeway = 5: expired 10 s ago is out, 3 s ago is still in.
    redis.put_session(UUID, &alice_jwt(NOW - 10), Some(600));
    let (o, logs) = capture(|| gate(&f, &with_cookie(&signed)));
    assert_eq!(o.status, 401);
    assert!(o.identity.is_none() && o.remote_user.is_none());
    assert!(logs.contains("JWT rejected: token expired"), "{logs}");
    redis.put_session(UUID, &alice_jwt(NOW - 3), Some(600));
    assert_eq!(
        gate(&f, &with_cookie(&signed)).remote_user,
        Some(Value::from("alice"))
    );
    // A token signed with another secret, or unsigned, never authenticates.
    for jwt in [
        mint("wrong", "HS256", r#"{"sub":"alice"}"#),
        mint("", "none", r#"{"sub":"alice"}"#),
        mint(JWT_SECRET, "HS512", r#"{"sub":"alice"}"#),
    ] {
        redis.put_session(UUID, &jwt, Some(600));
        let o = gate(&f, &with_cookie(&signed));
        assert_eq!(o.status, 401);
        assert!(o.remote_user.is_none());
    }
}

#[test]
fn a_spoofed_uuid_header_never_reaches_upstream() {
    let redis = Redis::start();
    let (_ini, f) = factory(&redis, "");
    redis.put_session(UUID, &alice_jwt(NOW + 600), Some(600));
    let signed = py_sign(SESSION_SECRET, "sha256", UUID);
    // Without a session: stripped.
    let req = OwnedRequest::get("/").header("X-IST-Session-UUID", "someone-elses-session");
    let o = gate(&f, &req);
    assert_anonymous(&o, "spoofed header only");
    // With a session: replaced by the verified one.
    let req = with_cookie(&signed).header("x-ist-session-uuid", "someone-elses-session");
    let o = gate(&f, &req);
    assert_eq!(o.status, 200);
    assert_eq!(o.upstream("X-IST-Session-UUID"), [UUID]);
}

#[test]
fn an_incoming_authorization_passes_through_untouched() {
    let redis = Redis::start();
    let (_ini, f) = factory(&redis, "");
    redis.put_session(UUID, &alice_jwt(NOW + 600), Some(600));
    let signed = py_sign(SESSION_SECRET, "sha256", UUID);
    // An API client with its own token (and, say, a stale cookie): the token wins, the jwt
    // identifier serves it, and the session is not consulted.
    let bob = mint(
        JWT_SECRET,
        "HS256",
        &format!(r#"{{"sub":7,"exp":{}}}"#, NOW + 60),
    );
    let req = with_cookie(&signed)
        .header("Authorization", &format!("Bearer {bob}"))
        .header("X-IST-Session-UUID", "spoof");
    let o = gate(&f, &req);
    assert_eq!(o.status, 200);
    assert_eq!(
        o.remote_user,
        Some(Value::Int(7)),
        "integer user ids stay integers"
    );
    assert_eq!(
        o.identity.as_ref().unwrap().get_str("identifier"),
        Some("jwt")
    );
    assert_eq!(o.upstream("Authorization"), [format!("Bearer {bob}")]);
    assert!(o.upstream("X-IST-Session-UUID").is_empty());
    // Another scheme passes through too, and nobody authenticates it here.
    let req = with_cookie(&signed).header("Authorization", "Basic Zm9vOmJhcg==");
    let o = gate(&f, &req);
    assert_eq!(o.status, 401);
    assert_eq!(o.upstream("Authorization"), ["Basic Zm9vOmJhcg=="]);
}

#[test]
fn jwt_plugin_alone_serves_api_clients() {
    let (_ini, f) = factory_from(
        "[plugin:jwt]\nuse = jwt\nsecret = k\naudience = api other\nissuer = https://issuer\n\
         [plugin:chal]\nuse = @TESTKIT@:marker_challenger\n\
         [identifiers]\nplugins = jwt\n[authenticators]\nplugins = jwt\n[challengers]\nplugins = chal\n",
    );
    let bearer =
        |t: &str| OwnedRequest::get("/api").header("authorization", &format!("bearer {t}"));
    let good = mint(
        "k",
        "HS256",
        r#"{"sub":"svc","aud":["api"],"iss":"https://issuer","scope":"read"}"#,
    );
    let o = gate(&f, &bearer(&good));
    assert_eq!(o.remote_user, Some(Value::from("svc")));
    assert_eq!(o.identity.unwrap().get_str("scope"), Some("read"));
    for (why, token) in [
        (
            "wrong audience",
            mint(
                "k",
                "HS256",
                r#"{"sub":"svc","aud":"x","iss":"https://issuer"}"#,
            ),
        ),
        (
            "no issuer",
            mint("k", "HS256", r#"{"sub":"svc","aud":"api"}"#),
        ),
        (
            "not yet valid",
            mint(
                "k",
                "HS256",
                &format!(
                    r#"{{"sub":"svc","aud":"api","iss":"https://issuer","nbf":{}}}"#,
                    NOW + 60
                ),
            ),
        ),
        (
            "alg none",
            mint(
                "k",
                "none",
                r#"{"sub":"svc","aud":"api","iss":"https://issuer"}"#,
            ),
        ),
        (
            "no sub",
            mint("k", "HS256", r#"{"aud":"api","iss":"https://issuer"}"#),
        ),
        ("not a JWT", "opaque-token".to_owned()),
    ] {
        let o = gate(&f, &bearer(&token));
        assert_eq!(o.status, 401, "{why}");
        assert!(o.remote_user.is_none(), "{why}");
    }
}

#[test]
fn public_key_and_jwks_files_verify_rs256_and_es256() {
    // Public keys and OpenSSL-signed tokens from plugins/jwt/testdata/make.sh (exp 2000000000).
    let testdata = common::workspace().join("plugins/jwt/testdata");
    let read = |name: &str| std::fs::read_to_string(testdata.join(name)).unwrap();
    let (rs, es) = (read("rs256.openssl.jwt"), read("es256.openssl.jwt"));
    let (rs, es) = (rs.trim(), es.trim());
    let ini = |algorithms: &str, key_option: &str, file: &Path| {
        format!(
            "[plugin:jwt]\nuse = jwt\nalgorithms = {algorithms}\n{key_option} = {}\n\
             [identifiers]\nplugins = jwt\n[authenticators]\nplugins = jwt\n",
            file.display()
        )
    };
    let (_i, f) = factory_from(&ini(
        "RS256",
        "public_key_file",
        &testdata.join("rs256.pub.pem"),
    ));
    assert_eq!(bearer_userid(&f, rs), Some(Value::from("openssl-user")));
    assert_eq!(bearer_userid(&f, es), None, "ES256 is not in `algorithms`");
    let (_i, f) = factory_from(&ini(
        "ES256",
        "public_key_file",
        &testdata.join("es256.pub.pem"),
    ));
    assert_eq!(bearer_userid(&f, es), Some(Value::from("openssl-user")));
    assert_eq!(bearer_userid(&f, rs), None);

    // The EC key as a JWKS (x and y are the last 64 bytes of the P-256 SubjectPublicKeyInfo).
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    let script = "import base64,json,sys\n\
        der = base64.b64decode(''.join(l for l in open(sys.argv[1]) if '-----' not in l))\n\
        b = lambda d: base64.urlsafe_b64encode(d).rstrip(b'=').decode()\n\
        key = {'kty': 'EC', 'crv': 'P-256', 'kid': 'k1', 'x': b(der[-64:-32]), 'y': b(der[-32:])}\n\
        json.dump({'keys': [{'kty': 'oct', 'k': 'AAAA'}, key]}, open(sys.argv[2], 'w'))\n";
    let status = Command::new(common::python(
        "the session tests sign cookies with the real itsdangerous",
    ))
    .args(["-c", script])
    .arg(testdata.join("es256.pub.pem"))
    .arg(&jwks)
    .status()
    .unwrap();
    assert!(status.success());
    let ((_i, f), logs) = capture(|| factory_from(&ini("ES256", "jwks_file", &jwks)));
    assert!(
        logs.contains("skipped"),
        "the unusable oct key is reported: {logs}"
    );
    assert_eq!(bearer_userid(&f, es), Some(Value::from("openssl-user")));

    // A PEM given as jwks_file: a clear start-up error.
    let text = who_ini(&ini("RS256", "jwks_file", &testdata.join("rs256.pub.pem")));
    let err = ApiFactory::from_config_file(&text.path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[plugin:jwt]") && err.contains("not a JWKS document"),
        "{err}"
    );
}

/// The user id a Bearer token authenticates as, with no challenger configured.
fn bearer_userid(f: &ApiFactory, token: &str) -> Option<Value> {
    OwnedRequest::get("/")
        .header("Authorization", &format!("Bearer {token}"))
        .with_view(|view| f.api(view).authenticate().and_then(|i| i.userid().cloned()))
}

#[test]
fn redis_stopped_mid_run_fails_closed_logs_once_and_recovers() {
    let mut redis = Redis::start();
    let (_ini, f) = factory(&redis, "");
    let jwt = alice_jwt(NOW + 600);
    redis.put_session(UUID, &jwt, Some(600));
    let req = with_cookie(&py_sign(SESSION_SECRET, "sha256", UUID));
    let ((), logs) = capture(|| {
        assert_eq!(gate(&f, &req).status, 200);
        redis.stop();
        // Every request while Redis is down: anonymous, quickly, never a crash.
        for i in 0..20 {
            let o = gate(&f, &req);
            assert_anonymous(&o, &format!("redis down, request {i}"));
            assert!(o.upstream("Authorization").is_empty());
            if i == 10 {
                // Past the retry interval: one more real attempt, still down.
                std::thread::sleep(Duration::from_millis(350));
            }
        }
        redis.spawn();
        redis.put_session(UUID, &jwt, Some(600));
        std::thread::sleep(Duration::from_millis(350));
        let o = gate(&f, &req);
        assert_eq!(o.status, 200, "recovered: {o:?}");
        assert_eq!(o.remote_user, Some(Value::from("alice")));
    });
    assert_eq!(
        logs.matches("is unreachable").count(),
        1,
        "the outage is logged once:\n{logs}"
    );
    assert!(logs.contains("failing closed"), "{logs}");
    assert_eq!(
        logs.matches("sessions are honoured again").count(),
        1,
        "{logs}"
    );
    assert!(!logs.contains(&jwt), "tokens are never logged");
}

#[test]
fn unreachable_redis_at_start_is_not_a_startup_error_and_fails_closed() {
    // Nothing listens on this port: start-up succeeds (Redis may come later), requests fail
    // closed within the timeout.
    let url = format!("redis://127.0.0.1:{}/0", free_port());
    let (_ini, f) = factory_from(&ini_text(&url, "", ""));
    let signed = py_sign(SESSION_SECRET, "sha256", UUID);
    let (o, logs) = capture(|| gate(&f, &with_cookie(&signed)));
    assert_anonymous(&o, "no redis");
    assert!(logs.contains("is unreachable"), "{logs}");
}

#[test]
fn a_hanging_redis_costs_one_timeout_then_fails_fast() {
    // A socket that accepts connections (the kernel's backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "redis://127.0.0.1:{}/0",
        silent.local_addr().unwrap().port()
    );
    let (_ini, f) = factory_from(&ini_text(&url, "", ""));
    let req = with_cookie(&py_sign(SESSION_SECRET, "sha256", UUID));
    let (outcomes, logs) = capture(|| (0..5).map(|_| gate(&f, &req)).collect::<Vec<_>>());
    for o in &outcomes {
        assert_anonymous(o, "silent redis");
    }
    // redis_timeout = 0.5: the first request waits for it, the next ones (inside
    // redis_retry_interval) do not wait at all.
    assert!(
        outcomes[0].elapsed >= Duration::from_millis(400),
        "{:?}",
        outcomes[0].elapsed
    );
    assert!(
        outcomes[0].elapsed < Duration::from_millis(1500),
        "{:?}",
        outcomes[0].elapsed
    );
    for o in &outcomes[1..] {
        assert!(o.elapsed < Duration::from_millis(100), "{:?}", o.elapsed);
    }
    assert_eq!(logs.matches("is unreachable").count(), 1, "{logs}");
}

#[test]
fn concurrent_requests_share_the_connection_pool() {
    let redis = Redis::start();
    let (_ini, f) = factory(&redis, "");
    redis.put_session(UUID, &alice_jwt(NOW + 600), Some(600));
    let req = with_cookie(&py_sign(SESSION_SECRET, "sha256", UUID));
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..25 {
                    assert_eq!(gate(&f, &req).remote_user, Some(Value::from("alice")));
                }
            });
        }
    });
    // At most MAX_IDLE (8) idle connections are kept; Redis saw no connection storm.
    let Reply::Bulk(info) = redis.cmd(&["INFO", "stats"]) else {
        panic!("INFO")
    };
    let total: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(total < 40, "{total} connections for 200 requests");
}

// ---------------------------------------------------------------------------------------------
// Refresh, against a tiny HTTP server.

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Ok,
    Fail,
    Hang,
}

/// A one-thread HTTP server that records requests and answers per `mode`.
struct RefreshServer {
    port: u16,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RefreshServer {
    fn start() -> RefreshServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(Mutex::new(Mode::Ok));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, r, s) = (mode.clone(), requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                stream
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                r.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let answer = match *m.lock().unwrap() {
                    Mode::Ok => {
                        "HTTP/1.1 200 OK\r\n\
                                 Set-Cookie: session_uuid=NEW.SIGNED; Path=/; HttpOnly\r\n\
                                 X-IST-Session: NEW.SIGNED\r\n\
                                 Content-Length: 0\r\nConnection: close\r\n\r\n"
                    }
                    Mode::Fail => {
                        "HTTP/1.1 500 Internal Server Error\r\n\
                                   Set-Cookie: ignored=1\r\n\
                                   Content-Length: 0\r\nConnection: close\r\n\r\n"
                    }
                    Mode::Hang => {
                        std::thread::sleep(Duration::from_millis(1500));
                        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                    }
                };
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        RefreshServer {
            port,
            mode,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl Drop for RefreshServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn short_lived_sessions_are_refreshed_and_the_new_cookie_reaches_the_client() {
    let redis = Redis::start();
    let server = RefreshServer::start();
    let extra = format!(
        "refresh_url = http://127.0.0.1:{}/api/auth/v1/refresh\n\
         minimum_token_life_time = 3600\nrefresh_timeout = 0.5",
        server.port
    );
    let (_ini, f) = factory(&redis, &extra);
    let jwt = alice_jwt(NOW + 600);
    let req = with_cookie(&py_sign(SESSION_SECRET, "sha256", UUID));

    // TTL above the minimum, or no TTL at all: no refresh.
    for ttl in [Some(7200), None] {
        redis.put_session(UUID, &jwt, ttl);
        let o = gate(&f, &req);
        assert_eq!(o.status, 200);
        assert!(o.client.is_empty());
    }
    assert_eq!(server.count(), 0);

    // Below the minimum: POST with the session's Authorization, and the answer's cookie and
    // session header go back to the client with the app's response.
    redis.put_session(UUID, &jwt, Some(100));
    let o = gate(&f, &req);
    assert_eq!(o.status, 200);
    assert_eq!(o.remote_user, Some(Value::from("alice")));
    assert_eq!(
        o.client("Set-Cookie"),
        ["session_uuid=NEW.SIGNED; Path=/; HttpOnly"]
    );
    assert_eq!(o.client("X-IST-Session"), ["NEW.SIGNED"]);
    let seen = server.requests.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        seen.starts_with("post /api/auth/v1/refresh http/1.1"),
        "{seen}"
    );
    assert!(
        seen.contains(&format!(
            "authorization: bearer {}",
            jwt.to_ascii_lowercase()
        )),
        "{seen}"
    );

    // A failing refresh service: logged and ignored.
    server.set(Mode::Fail);
    let (o, logs) = capture(|| gate(&f, &req));
    assert_eq!(o.status, 200);
    assert!(o.client.is_empty(), "{:?}", o.client);
    assert!(logs.contains("answered 500"), "{logs}");

    // A hanging one: bounded by refresh_timeout.
    server.set(Mode::Hang);
    let (o, logs) = capture(|| gate(&f, &req));
    assert_eq!(o.status, 200);
    assert!(o.client.is_empty());
    assert!(o.elapsed < Duration::from_millis(1400), "{:?}", o.elapsed);
    assert!(logs.contains("token refresh at"), "{logs}");
    assert_eq!(server.count(), 3);
}

#[test]
fn logout_expires_the_cookie_and_deletes_the_session_when_asked() {
    let redis = Redis::start();
    let signed = py_sign(SESSION_SECRET, "sha256", UUID);
    for delete in [false, true] {
        let (_ini, f) = factory(
            &redis,
            &format!("delete_on_logout = {delete}\ncookie_domain = example.org"),
        );
        redis.put_session(UUID, &alice_jwt(NOW + 600), Some(600));
        // A forged cookie never deletes anything.
        let forged = format!("{UUID}.AAAA");
        let headers = with_cookie(&forged).with_view(|view| f.api(view).logout(None));
        assert_eq!(headers.len(), 1);
        assert!(redis.exists(UUID));
        let headers = with_cookie(&signed).with_view(|view| {
            let mut api = f.api(view);
            assert!(api.authenticate().is_some());
            api.logout(None)
        });
        assert_eq!(
            headers,
            vec![HeaderField::new(
                "Set-Cookie",
                "session_uuid=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; \
                 Domain=example.org"
            )]
        );
        assert_eq!(redis.exists(UUID), !delete, "delete_on_logout = {delete}");
    }
}

#[test]
fn bad_configuration_is_refused_at_startup_with_the_section_and_option() {
    let cases = [
        ("[plugin:s]\nuse = redis_session\nredis_url = redis://127.0.0.1:1\n", "secret_key"),
        (
            "[plugin:s]\nuse = redis_session\nsecret_key = a\nsecretfile = b\nredis_url = redis://x\n",
            "not both",
        ),
        ("[plugin:s]\nuse = redis_session\nsecret_key = a\nredis_url = http://x\n", "redis_url"),
        (
            "[plugin:s]\nuse = redis_session\nsecret_key = a\nredis_url = redis://x\nsignature_algorithm = md4\n",
            "signature_algorithm",
        ),
        (
            "[plugin:s]\nuse = redis_session\nsecret_key = a\nredis_url = redis://x\nrefresh_url = ftp://x\n",
            "refresh_url",
        ),
        (
            "[plugin:s]\nuse = redis_session\nsecret_key = a\nredis_url = redis://x\ncookie_nmae = x\n",
            "cookie_nmae",
        ),
        ("[plugin:j]\nuse = jwt\nsecret = a\nalgorithms = none\n", "never accepted"),
        ("[plugin:j]\nuse = jwt\nalgorithms = HS256\n", "`secret`"),
        ("[plugin:j]\nuse = jwt\nsecret = a\nalgorithms = RS256\n", "RS256 needs"),
        ("[plugin:j]\nuse = jwt\nsecretfile = /nonexistent/key\n", "secretfile"),
    ];
    common::plugin_so("redis_session");
    common::plugin_so("jwt");
    for (text, expected) in cases {
        let ini = who_ini(text);
        let err = ApiFactory::from_config_file(&ini.path)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        let section = if text.contains("[plugin:s]") {
            "[plugin:s]"
        } else {
            "[plugin:j]"
        };
        assert!(err.contains(section), "{text}: {err}");
        assert!(err.contains(expected), "{text}: {err}");
    }
}
