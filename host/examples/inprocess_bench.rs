//! Times rewho's Api in-process on a who.ini: the Rust side of `bench/compare.sh`, taking
//! the same arguments as `bench/python_inprocess.py` so both run the same requests.
//!
//! usage: `inprocess_bench [--static] WHO_INI REQUEST_JSON ITERATIONS`; prints
//! `{"ns_per_op": …, "userid": …}`. With `--static`, the auth_tkt, basicauth and htpasswd
//! plugins the who.ini names are the same code linked into this binary instead of loaded
//! from their `.so` files: the baseline for the cost of the dynamic-library boundary.

use std::time::Instant;

use rewho::{ApiFactory, ApiFactoryBuilder, Config, FactoryError, OwnedRequest, Value};

#[path = "../benches/support/static_plugins.rs"]
mod static_plugins;

/// The same allocator as the `rewho` binary, so this measures what `rewho serve` runs.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: rewho::alloc::Allocator = rewho::alloc::Allocator;

#[derive(serde::Deserialize)]
struct Req {
    #[serde(default = "get")]
    method: String,
    #[serde(default = "root")]
    path: String,
    #[serde(default)]
    query: String,
    #[serde(default = "loopback")]
    remote_addr: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default = "authenticate")]
    op: String,
}

fn get() -> String {
    "GET".into()
}
fn root() -> String {
    "/".into()
}
fn loopback() -> String {
    "127.0.0.1".into()
}
fn authenticate() -> String {
    "authenticate".into()
}

/// The factory for `who_ini` with the standard plugins linked in rather than loaded.
fn static_factory(who_ini: &std::path::Path) -> Result<ApiFactory, FactoryError> {
    let config = Config::from_file(who_ini)?;
    static_plugins::with_static_plugins(ApiFactoryBuilder::from_config(&config)).build()
}

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    let linked = args.get(1).is_some_and(|a| a == "--static");
    if linked {
        args.remove(1);
    }
    if args.len() != 4 {
        eprintln!("usage: inprocess_bench [--static] WHO_INI REQUEST_JSON ITERATIONS");
        return std::process::ExitCode::from(2);
    }
    let path: &std::path::Path = args[1].as_ref();
    let built = if linked {
        static_factory(path)
    } else {
        ApiFactory::from_config_file(path)
    };
    let factory = match built {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let req: Req = serde_json::from_str(&args[2]).expect("request JSON");
    let iterations: u64 = args[3].parse().expect("iterations");
    let owned = OwnedRequest {
        method: req.method,
        scheme: "http".into(),
        host: "localhost".into(),
        path: req.path,
        query: req.query,
        peer_addr: req.remote_addr.clone(),
        client_addr: req.remote_addr,
        headers: req.headers,
    };
    let op = req.op;
    let once = |view: rewho::Request<'_>| -> Option<Value> {
        let mut api = factory.api(view);
        match op.as_str() {
            "authenticate" => api.authenticate().and_then(|i| i.userid().cloned()),
            // What every edge runs first: authenticate, then the `[authorizers]` (if any).
            "ingress" => match api.ingress() {
                rewho::Ingress::Continue => api.userid().cloned(),
                _ => None,
            },
            "challenge" => {
                api.authenticate();
                api.challenge(401, &[])
                    .map(|r| Value::Int(i64::from(r.status)))
            }
            "remember" => {
                api.authenticate();
                Some(Value::Int(api.remember(None).len() as i64))
            }
            other => panic!("unknown op {other}"),
        }
    };
    let (userid, elapsed) = owned.with_view(|view| {
        let userid = once(view.clone());
        let start = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(once(view.clone()));
        }
        (userid, start.elapsed())
    });
    println!(
        "{}",
        serde_json::json!({
            "ns_per_op": elapsed.as_nanos() as f64 / iterations as f64,
            "userid": userid.map(|u| u.to_display_string()),
        })
    );
    std::process::ExitCode::SUCCESS
}
