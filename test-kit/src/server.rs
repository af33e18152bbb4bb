//! The real binary, started as a user starts it, and raw HTTP to talk to it.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long a binary may take to say where it listens: generous, since the machine may
/// be busy building and testing other crates at the same time.
const START_PATIENCE: Duration = Duration::from_secs(60);

/// The variables the course's binaries read, removed from what the server inherits, so
/// that a tester's own settings (a `SESSION_SECRET` in the shell) never change a test.
/// `CARGO_MANIFEST_DIR` is among them: `cargo test` sets it, and steps 4 and 5 would put
/// their database in the course's folder.
const COURSE_VARIABLES: [&str; 8] = [
    "PORT",
    "DATABASE_URL",
    "SESSION_SECRET",
    "ADMIN_PASSWORD_HASH",
    "SESSION_IDLE_TIMEOUT_SECS",
    "SESSION_ABSOLUTE_TIMEOUT_SECS",
    "NO_COLOR",
    "CARGO_MANIFEST_DIR",
];

/// A binary started with `PORT=0`, so the system picks a free port, which the test reads
/// from the server's "listening on" log line. It runs in a temporary folder of its own,
/// so a file it makes by default (step 4's `sessions.db`) goes away with it. Ended (as
/// a crash would end it) when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Where to connect: the logged address, with `localhost` as `127.0.0.1`.
    pub addr: String,
    /// The "listening on" line exactly as the server wrote it.
    pub log_line: String,
    /// Every line the server has written so far, to stdout or stderr.
    log: Arc<Mutex<Vec<String>>>,
    /// Held only so that the server's folder lives as long as the server.
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `binary` (in a test, `env!("CARGO_BIN_EXE_step1-basic")`) with `RUST_LOG=info`
    /// and `envs`, and waits until it says where it listens. Panics with what it wrote if
    /// it stops first.
    pub fn start(binary: impl AsRef<OsStr>, envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut command = Command::new(binary);
        for name in COURSE_VARIABLES {
            command.env_remove(name);
        }
        let mut child = command
            .current_dir(dir.path())
            .env("PORT", "0")
            .env("RUST_LOG", "info")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");

        // Both outputs are read for as long as the server runs, so it never blocks on a
        // full pipe and the test can read what it said.
        let log = Arc::new(Mutex::new(Vec::new()));
        let (listening, told) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        collect(stdout, Arc::clone(&log), Some(listening));
        collect(stderr, Arc::clone(&log), None);

        let Ok(log_line) = told.recv_timeout(START_PATIENCE) else {
            let _ = child.kill();
            let _ = child.wait();
            // The reading threads may still be taking the last lines in.
            std::thread::sleep(Duration::from_millis(100));
            let log = log.lock().expect("log lock").join("\n");
            panic!("the server did not say where it listens; it wrote:\n{log}");
        };
        let (_, rest) = log_line
            .split_once("listening on http://")
            .expect("the line says where");
        // The server listens on IPv4 loopback only; `localhost` may resolve to the IPv6
        // `::1` first, which refuses (slowly, on Windows) before IPv4 is tried.
        let addr = rest.trim().replacen("localhost", "127.0.0.1", 1);
        Self {
            child,
            addr,
            log_line,
            log,
            _dir: dir,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one raw HTTP/1.1 request and returns the whole response as text, so the
    /// test sees exactly what crossed the wire.
    pub fn request(&self, head: &str) -> String {
        self.send_raw(&format!(
            "{head}\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        ))
    }

    /// Sends one raw HTTP/1.1 request with a body.
    pub fn request_with_body(&self, head: &str, content_type: &str, body: &str) -> String {
        self.send_raw(&format!(
            "{head}\r\nHost: {}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        ))
    }

    /// Writes `request` as it is and reads until the server closes the connection.
    pub fn send_raw(&self, request: &str) -> String {
        let mut stream = TcpStream::connect(&self.addr).expect("server accepts connections");
        stream
            .write_all(request.as_bytes())
            .expect("request is sent");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("response is read");
        response
    }

    /// Connects, sends `head` at once, then one byte of `rest` every `every` from another
    /// thread, for as long as the connection takes them: a "slowloris" client. Returns
    /// the connection, to read what the server answers (or when it closes).
    pub fn trickle(&self, head: &str, rest: &str, every: Duration) -> TcpStream {
        let mut stream = TcpStream::connect(&self.addr).expect("server accepts connections");
        stream.write_all(head.as_bytes()).expect("the head is sent");
        let mut writer = stream.try_clone().expect("a second handle");
        let rest = rest.as_bytes().to_vec();
        std::thread::spawn(move || {
            for byte in rest {
                std::thread::sleep(every);
                if writer.write_all(&[byte]).is_err() {
                    return;
                }
            }
        });
        stream
    }

    /// The server's resident memory and its peak so far, in KiB, from Linux's `/proc`.
    #[cfg(target_os = "linux")]
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server's /proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {status}"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Logs in as the demo user (admin / 1234, which steps 2 to 5 and the add-ons share)
    /// over TCP and returns the session cookie (`name=value`).
    pub fn log_in(&self) -> String {
        let login = self.request_with_body(
            "POST /login HTTP/1.1",
            "application/json",
            r#"{"username":"admin","password":"1234"}"#,
        );
        assert!(login.contains("Logged in successfully"), "{login}");
        cookie_from(&login).expect("logging in sets a cookie")
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }

    /// The log once it holds `text`, or after ten seconds without it: another thread
    /// reads the log, and may not have read a line the server has just written.
    pub fn log_with(&self, text: &str) -> String {
        let started = Instant::now();
        loop {
            let log = self.log();
            if log.contains(text) || started.elapsed() > Duration::from_secs(10) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM, as Ctrl-C or a service manager would, and returns at once. Unix
    /// only: Windows has no SIGTERM.
    #[cfg(unix)]
    pub fn send_sigterm(&self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let pid = i32::try_from(self.child.id()).expect("a process id fits in pid_t");
        kill(Pid::from_raw(pid), Signal::SIGTERM).expect("SIGTERM is sent");
    }

    /// The server's exit status once it has ended, or `None` if it still runs after
    /// `limit`.
    pub fn wait_at_most(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            let status = self.child.try_wait().expect("the server can be waited for");
            if status.is_some() || started.elapsed() > limit {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server as Ctrl-C or a service manager would, with SIGTERM, and waits for
    /// it to exit. Windows has no SIGTERM, and a console's Ctrl-C would reach the tests
    /// too, so there the server is ended outright: only on Unix does a test see the
    /// graceful shutdown.
    pub fn terminate(mut self) -> ExitStatus {
        #[cfg(unix)]
        self.send_sigterm();
        #[cfg(not(unix))]
        self.child.kill().expect("the server is ended");
        self.child.wait().expect("server exits")
    }

    /// Ends the server at once, as a crash or `kill -9` would: it gets no chance to clean
    /// up (SIGKILL on Unix, `TerminateProcess` on Windows).
    pub fn crash(mut self) -> ExitStatus {
        self.child.kill().expect("the server is ended");
        self.child.wait().expect("server exits")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failing test must not leave a server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `output` line by line into `log` on a thread of its own; the first line that
/// says where the server listens also goes to `listening`.
fn collect(
    output: impl Read + Send + 'static,
    log: Arc<Mutex<Vec<String>>>,
    mut listening: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            log.lock().expect("log lock").push(line.clone());
            if line.contains("listening on http://")
                && let Some(listening) = listening.take()
            {
                let _ = listening.send(line);
            }
        }
    });
}

/// The first line of `log` that contains `text`; panics with the whole log if none does.
pub fn line_with<'log>(log: &'log str, text: &str) -> &'log str {
    log.lines()
        .find(|line| line.contains(text))
        .unwrap_or_else(|| panic!("no {text:?} in the log:\n{log}"))
}

/// The `name=value` pair of the first `Set-Cookie` header in a raw response.
pub fn cookie_from(response: &str) -> Option<String> {
    response.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("set-cookie").then(|| {
            value
                .trim()
                .split(';')
                .next()
                .unwrap_or_default()
                .to_string()
        })
    })
}
