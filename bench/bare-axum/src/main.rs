//! Step 1's `GET /` without tower-sessions: the same askama page, with the visit count
//! kept in one process-wide counter instead of a per-visitor session. `bench/run` compares
//! it with step 1 to measure what the session layer (cookie parsing, store lookup,
//! serialising the record, `Set-Cookie`) costs per request.
//!
//! `PORT` picks the port on 127.0.0.1 (default 3000); it prints "listening on http://ADDR".

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::routing::get;

static VIEWS: AtomicU64 = AtomicU64::new(0);

/// The same fields step 1's panel template reads.
struct Panel {
    entries: Vec<(&'static str, String)>,
    expires_in_secs: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
struct IndexPage {
    views: u64,
    panel: Panel,
}

async fn index() -> IndexPage {
    let views = VIEWS.fetch_add(1, Ordering::Relaxed) + 1;
    IndexPage {
        views,
        panel: Panel {
            entries: vec![("views", views.to_string())],
            expires_in_secs: 60,
        },
    }
}

#[tokio::main]
async fn main() {
    let port: u16 = match std::env::var("PORT") {
        Ok(value) => match value.trim().parse() {
            Ok(port) => port,
            Err(_) => {
                eprintln!("error: PORT must be a whole number from 0 to 65535, not {value:?}");
                std::process::exit(1);
            }
        },
        Err(_) => 3000,
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on {addr}: {err}");
            std::process::exit(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on http://{addr}"),
        Err(_) => println!("listening on http://{addr}"),
    }
    let app = Router::new().route("/", get(index));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(err) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("error: the server stopped: {err}");
        std::process::exit(1);
    }
}
