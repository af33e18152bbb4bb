//! A router served over real TCP inside the test process, for clients that need a socket
//! (a real browser, an HTTP client under load) without a binary to build and start.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A router served on a loopback port for as long as this value lives.
#[derive(Debug)]
pub struct Served {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Serves `router` on `127.0.0.1` at a port the system picks, in this test's runtime, so
/// parallel tests never collide. Each request carries the client's address, as `main`
/// serves it (step 5's log lines name the client).
pub async fn serve(router: Router) -> Served {
    serve_at(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), router).await
}

async fn serve_at(addr: SocketAddr, router: Router) -> Served {
    let listener = TcpListener::bind(addr)
        .await
        .unwrap_or_else(|err| panic!("cannot listen on {addr} for the app: {err}"));
    let addr = listener
        .local_addr()
        .expect("a bound listener knows its address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        // Graceful, so that stopping also closes a browser's idle keep-alive connections:
        // otherwise they would go on reaching the old app after a restart.
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
        .expect("the app's server stopped with an error");
    });
    Served {
        addr,
        stop: Some(stop),
        task,
    }
}

impl Served {
    /// The address of `path` (which starts with `/`) on this server.
    ///
    /// The host is `localhost`, not `127.0.0.1`: browsers treat `http://localhost` as a
    /// secure context and accept `Secure` (and so `__Host-`) cookies from it, which the
    /// hardened step needs; the name resolves to the loopback address the app listens on.
    pub fn url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.addr.port())
    }

    /// The address of `path` on this server by its IP address, `http://127.0.0.1:...`.
    /// To a browser that is another site than [`Served::url`]'s `localhost` (sites are
    /// told apart by host name), so a server reached this way can play a stranger's site
    /// that posts forms to an app on `localhost`.
    pub fn url_by_ip(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops this server and serves `router` at the same address, as when the server
    /// process is restarted: what survives is only what the app keeps outside itself
    /// (a session database).
    pub async fn restart(mut self, router: Router) -> Served {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("the old server stops within 30 s")
            .expect("the old server stops cleanly");
        serve_at(self.addr, router).await
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}
