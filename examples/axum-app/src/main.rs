//! Runs the example: `cargo run -p rewho-example-axum-app [-- WHO_INI [ADDR]]`, then open
//! http://127.0.0.1:3000/ (demo / demo), or `curl -u demo:demo http://127.0.0.1:3000/private`.

use std::net::SocketAddr;
use std::path::PathBuf;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let config = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("who.ini"));
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    // Plugin factories may do I/O (open files, connect): build off the async workers.
    let factory =
        tokio::task::spawn_blocking(move || rewho::ApiFactory::from_config_file(&config)).await??;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "axum example listening on http://{}",
        listener.local_addr()?
    );
    let app = rewho_example_axum_app::app(factory);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
