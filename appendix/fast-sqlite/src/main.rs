//! # Appendix — fast SQLite
//!
//! Step 5's app, unchanged, on a faster session store: [`FastStore`] puts a memory cache,
//! one writer that commits many requests' writes together (group commit) and a touch
//! interval in front of step 5's SQLite store. Nobody is answered before their change is
//! committed, and a logged-out session never comes back. One server per database file: a
//! second one on the same file refuses to start.
//!
//! ```text
//! cargo run -p appendix-fast-sqlite    # then open http://localhost:3000/login (Chrome or Firefox)
//! cargo test -p appendix-fast-sqlite
//! ```
//!
//! Settings: step 5's, read by step 5 (`PORT`, `DATABASE_URL`, default
//! `appendix/fast-sqlite/sessions.db` under `cargo run`, `SESSION_SECRET`,
//! `SESSION_IDLE_TIMEOUT_SECS`, `SESSION_ABSOLUTE_TIMEOUT_SECS`, `ADMIN_PASSWORD_HASH`,
//! `RUST_LOG`). The touch interval is [`touch_interval`] of the idle timeout.

use std::io::{BufWriter, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use appendix_fast_sqlite::{FastStore, touch_interval};
use step5_hardened::{Config, Settings, store};
use tracing_subscriber::EnvFilter;

/// The memory allocator. A request makes a few hundred small allocations (headers, the
/// session's map, the cookie, the log line, the page), often freed on another thread than
/// the one that made them. Under load glibc's `malloc` and `free`, with the merging of its
/// free lists, took 11 to 14 % of the server's CPU time (`perf`, 2026-12-02, scenarios a to
/// c of `bench/run`); mimalloc, which keeps small blocks in per-thread pages, does the same
/// work in 10 to 11 %. A small gain, but free: the program allocates exactly as before.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How much of the log the background thread gathers before writing it out.
const LOG_BUFFER: usize = 64 * 1024;

/// How often expired sessions are deleted from the database.
const CLEANUP_PERIOD: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    // The log at step 5's level (`info`: a line per request), written by a background
    // thread: a request hands its line over and goes on, where a write to stdout would make
    // it wait for the terminal or the pipe. The guard flushes what is left at exit. Should
    // the log fall 128 000 lines behind, new lines are dropped (and counted), never the
    // requests held up.
    //
    // The thread writes through a buffer: it takes every line waiting, then flushes once
    // when none is left, so under load one `write` call carries many lines where stdout by
    // itself (flushed at every newline) would make one call per line. When the server is
    // idle each line still goes out as soon as it is logged: nothing waits in the buffer.
    let stdout = BufWriter::with_capacity(LOG_BUFFER, std::io::stdout());
    let (writer, _flush_at_exit) = tracing_appender::non_blocking(stdout);
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(colour)
        .with_writer(writer)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let config = Config::from_env()?;
    let store = FastStore::open(&config.database_url, touch_interval(config.idle_timeout)).await?;
    let settings = Settings::from_config(&config)?;
    let cleanup = tokio::spawn(store::delete_expired_every(
        store.table().clone(),
        CLEANUP_PERIOD,
    ));

    let served = step5_hardened::serve(config.addr, step5_hardened::app(store, settings)).await;
    cleanup.abort();
    served
}
