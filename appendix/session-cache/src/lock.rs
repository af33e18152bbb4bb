//! One server per database file.
//!
//! The cache is right only if every save and delete of the database goes through this
//! process (see [`crate::cache`]): a second server on the same file would log a visitor
//! out in its table while this one's memory keeps them logged in. So the second server is
//! refused at start-up.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::str::FromStr;

use sqlx::sqlite::SqliteConnectOptions;

/// An exclusive lock on the file `<database>.lock` beside a SQLite database file, held
/// until dropped.
///
/// The lock is the operating system's (`flock` on Linux and macOS, `LockFileEx` on
/// Windows): it ends with the process, however the process ends, even by `kill -9`, so a
/// crashed server never leaves a stale lock behind. It is not taken on the database file
/// itself, which SQLite locks in its own way (on Windows a lock on the whole file would
/// keep SQLite out of it).
#[derive(Debug)]
pub struct DatabaseLock {
    /// The open lock file; closing it (when dropped) releases the lock.
    _file: Option<File>,
}

impl DatabaseLock {
    /// Takes the lock of the database at `database_url`, which must exist (step 5's
    /// `open` creates it), or says that another server holds it. A database in memory
    /// is this process's alone and needs none.
    pub fn take(database_url: &str) -> Result<Self, String> {
        let in_memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(database_url);
        let (Ok(options), false) = (options, in_memory) else {
            return Ok(Self { _file: None });
        };
        // The file's own path, every symbolic link followed, whatever path this server was
        // given (`link.db`, `./x/../sessions.db`): two paths to one file are one database,
        // and take one lock. SQLite follows the links the same way to name the `-wal` file.
        // (A hard link is a second name SQLite cannot tell either, and its documentation
        // warns that it corrupts the database: not a case to support.)
        let database = options.get_filename();
        let file = std::fs::canonicalize(database)
            .map_err(|err| format!("cannot find {}: {err}", database.display()))?;
        let path = PathBuf::from(format!("{}.lock", file.display()));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|err| format!("cannot open the lock file {}: {err}", path.display()))?;
        match lock.try_lock() {
            Ok(()) => Ok(Self { _file: Some(lock) }),
            Err(TryLockError::WouldBlock) => Err(format!(
                "another server is using the session database: stop it, or give this one its own DATABASE_URL (it holds {})",
                path.display()
            )),
            Err(TryLockError::Error(err)) => Err(format!("cannot lock {}: {err}", path.display())),
        }
    }
}
