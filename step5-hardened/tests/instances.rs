//! Several instances behind one address share one PostgreSQL session store: a user
//! logged in through one is logged in on all, and a logout through any ends it on all.
//!
//! These tests start a real PostgreSQL server of their own (Debian's `postgresql`
//! package, which `scripts/test-all` installs) in a temporary folder on a free port.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;

/// A throwaway PostgreSQL server, stopped and deleted when dropped.
struct Postgres {
    server: Child,
    port: u16,
    data: PathBuf,
    as_root: bool,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

impl Postgres {
    fn start() -> Self {
        let bin = postgres_bin_dir();
        let dir = tempfile::tempdir().expect("a temporary folder");
        let data = dir.path().join("data");
        // PostgreSQL refuses to run as root; as root, run it as the `postgres` user the
        // package creates, in a folder that user owns.
        let as_root = run(Command::new("id").arg("-u")).trim() == "0";
        if as_root {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        let initialised = pg_command(&bin, as_root, "initdb")
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&data)
            .status()
            .expect("initdb runs");
        assert!(initialised.success(), "initdb failed");

        let port = free_port();
        let server = pg_command(&bin, as_root, "postgres")
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(dir.path())
            // Durability is not what these tests are about: skip the fsyncs.
            .args(["-c", "fsync=off"])
            .spawn()
            .expect("postgres starts");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "PostgreSQL did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            server,
            port,
            data,
            as_root,
            bin,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // A "fast" shutdown closes the connections and exits at once. (Signalling the
        // child would reach `runuser`, not PostgreSQL.)
        let stopped = pg_command(&self.bin, self.as_root, "pg_ctl")
            .args(["stop", "-m", "fast", "-D"])
            .arg(&self.data)
            .status();
        if !stopped.is_ok_and(|status| status.success()) {
            let _ = self.server.kill();
        }
        let _ = self.server.wait();
    }
}

/// A PostgreSQL program, run as the `postgres` user when the tests run as root.
fn pg_command(bin: &Path, as_root: bool, program: &str) -> Command {
    let mut command = if as_root {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(bin.join(program));
        command
    } else {
        Command::new(bin.join(program))
    };
    command.stdout(Stdio::null()).stderr(Stdio::null());
    command
}

/// Where the PostgreSQL programs are: Debian keeps them out of PATH, per version.
fn postgres_bin_dir() -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(Result::ok)
                .map(|d| d.path().join("bin"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    versions
        .into_iter()
        .filter(|bin| bin.join("postgres").exists())
        .max()
        .expect("PostgreSQL is not installed: install it with: apt-get install postgresql")
}

fn run(command: &mut Command) -> String {
    let output = command.output().expect("the command runs");
    assert!(output.status.success(), "{command:?} failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

/// `count` instances of the app on one PostgreSQL database, as behind a load balancer.
fn instances(postgres: &Postgres, count: usize) -> Vec<Server> {
    (0..count)
        .map(|_| Server::start(&[("DATABASE_URL", &postgres.url())]))
        .collect()
}

fn dashboard(server: &Server, cookie: &str) -> String {
    server.request(&format!("GET /dashboard HTTP/1.1\r\nCookie: {cookie}"))
}

#[test]
fn a_login_through_one_instance_is_a_login_on_all_and_a_logout_anywhere_ends_it() {
    let postgres = Postgres::start();
    let servers = instances(&postgres, 3);

    let cookie = servers[0].log_in();
    let seen_by_second = dashboard(&servers[1], &cookie);
    let logout = servers[2].log_out(&cookie);

    assert!(
        seen_by_second.contains("Welcome user 1 to the dashboard"),
        "{seen_by_second}"
    );
    assert!(logout.contains("Logged out successfully"), "{logout}");
    for server in &servers {
        let page = dashboard(server, &cookie);
        assert!(page.starts_with("HTTP/1.1 401"), "{page}");
    }
}

#[test]
fn the_visit_count_is_one_count_across_instances() {
    let postgres = Postgres::start();
    let servers = instances(&postgres, 3);
    let first = servers[0].request("GET / HTTP/1.1");
    let cookie = common::cookie_from(&first).expect("the first visit starts a session");

    let mut last = String::new();
    for n in 0..5 {
        last = servers[(n + 1) % 3].request(&format!("GET / HTTP/1.1\r\nCookie: {cookie}"));
    }

    assert!(last.contains("Number of visits: 6"), "{last}");
}

#[test]
fn a_form_from_one_instance_can_be_posted_to_another() {
    let postgres = Postgres::start();
    let servers = instances(&postgres, 2);
    let form = servers[0].request("GET /login HTTP/1.1");
    let cookie = common::cookie_from(&form).expect("a session");
    let token = common::csrf_token_in(&form).expect("a token");

    // The token lives in the shared session, so any instance can check it.
    let login = servers[1].request_with_body(
        &format!("POST /login HTTP/1.1\r\nCookie: {cookie}"),
        "application/x-www-form-urlencoded",
        &format!("username=admin&password=1234&_csrf={token}"),
    );

    assert!(login.contains("Logged in successfully"), "{login}");
}

#[test]
fn instances_without_a_configured_secret_share_the_key_kept_in_the_database() {
    let postgres = Postgres::start();
    let servers = instances(&postgres, 2);

    let cookie = servers[0].log_in();

    // A cookie signed by the first instance verifies on the second.
    let page = dashboard(&servers[1], &cookie);
    assert!(page.contains("Welcome user 1"), "{page}");
}
