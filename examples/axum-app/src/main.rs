//! `rewho-example-axum-app [--config who.ini] [--listen 127.0.0.1:3000]`: serves the example
//! app (see the library docs) on the given address.

use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut config = concat!(env!("CARGO_MANIFEST_DIR"), "/who.ini").to_owned();
    let mut listen = "127.0.0.1:3000".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--config", Some(v)) => config = v,
            ("--listen", Some(v)) => listen = v,
            _ => {
                eprintln!("usage: rewho-example-axum-app [--config who.ini] [--listen ADDR]");
                return ExitCode::from(2);
            }
        }
    }
    let factory = match rewho::ApiFactory::from_config_file(config.as_ref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {listen}: {e}");
                return ExitCode::from(2);
            }
        };
        eprintln!("example app on http://{listen}/ (user demo / demo)");
        let app = rewho_example_axum_app::app(factory);
        match axum::serve(listener, app).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        }
    })
}
