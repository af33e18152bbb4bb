//! A throwaway PostgreSQL server for the tests: made in a temporary folder, listening on
//! a free port, stopped and deleted when dropped. Nothing to set up beforehand but the
//! PostgreSQL programs (`apt-get install postgresql`, `brew install postgresql@17`).
//!
//! Written here because the crates that do this do not fit a class: `postgresql_embedded`
//! downloads PostgreSQL at test time, `testcontainers` needs Docker, and `pgtemp` looks
//! for the programs on PATH only (Debian keeps them elsewhere) and cannot run them as
//! root, as CI containers do.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a machine without PostgreSQL is told, in one line.
const NOT_INSTALLED: &str = "these tests start a PostgreSQL server of their own, and none is installed: \
     apt-get install postgresql (Debian, Ubuntu) or brew install postgresql@17 (macOS)";

pub struct Postgres {
    server: Child,
    port: u16,
    bin: PathBuf,
    data: PathBuf,
    as_root: bool,
    _dir: tempfile::TempDir,
}

impl Postgres {
    /// Starts a new, empty server; the user `postgres` may connect without a password.
    pub fn start() -> Self {
        let bin = programs().expect(NOT_INSTALLED);
        let dir = tempfile::tempdir().expect("a temporary folder");
        let data = dir.path().join("data");
        // PostgreSQL refuses to run as root. As root (in a container, in CI), run it as
        // the `postgres` user the Debian package creates, in a folder that user owns.
        let as_root = is_root();
        if as_root {
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(owned.success(), "cannot chown the folder to postgres");
        }

        let initialised = pg_command(&bin, as_root, "initdb")
            .args([
                "--auth=trust",
                "--username=postgres",
                "--no-sync",
                "--no-locale",
            ])
            .arg("-D")
            .arg(&data)
            .status()
            .expect("initdb runs");
        assert!(initialised.success(), "initdb failed");

        let port = free_port();
        let mut server = pg_command(&bin, as_root, "postgres")
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(dir.path())
            // Durability is not what these tests are about: skip the disk flushes.
            .args(["-c", "fsync=off"])
            .spawn()
            .expect("postgres starts");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.try_wait() {
                panic!("PostgreSQL stopped at start-up ({status}); is port {port} taken?");
            }
            if started.elapsed() > Duration::from_secs(60) {
                panic!("PostgreSQL did not start within a minute");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            server,
            port,
            bin,
            data,
            as_root,
            _dir: dir,
        }
    }

    /// The `DATABASE_URL` of the server's default database.
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// The `DATABASE_URL` of one of the server's databases.
    pub fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // A "fast" shutdown closes the connections and exits at once. (Killing the child
        // would reach `runuser` when running as root, not PostgreSQL.)
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

/// The folder holding `initdb`, `postgres` and `pg_ctl`. Debian keeps them out of PATH,
/// in `/usr/lib/postgresql/VERSION/bin`, and Homebrew's versioned formulas may too, in
/// `HOMEBREW/opt/postgresql@VERSION/bin`; otherwise they must be on PATH. Any version does.
fn programs() -> Option<PathBuf> {
    let installed = [
        ("/usr/lib/postgresql", ""),
        ("/opt/homebrew/opt", "postgresql@"),
        ("/usr/local/opt", "postgresql@"),
    ];
    let path = std::env::var_os("PATH").unwrap_or_default();
    installed
        .iter()
        .flat_map(|&(parent, prefix)| {
            std::fs::read_dir(parent)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .filter(move |entry| entry.file_name().to_string_lossy().starts_with(prefix))
                .map(|entry| entry.path().join("bin"))
        })
        .chain(std::env::split_paths(&path))
        .find(|dir| has_programs(dir))
}

fn has_programs(dir: &Path) -> bool {
    ["initdb", "postgres", "pg_ctl"]
        .iter()
        .all(|program| dir.join(program).is_file() || dir.join(format!("{program}.exe")).is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
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

/// A port nobody listens on: bound, then released.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}
