//! A faster session store for step 5's app, with the same rules: [`FastStore`], passed
//! to `step5_hardened::app()` like any store. Nobody is answered before their change is
//! committed, and a logged-out session never comes back, from the table or from memory.

pub mod cache;
mod writer;

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::SqliteConnectOptions;
use step5_hardened::store::{self, Store};
use tokio::sync::mpsc;
use tower_sessions::session::{Id, Record};
use tower_sessions::{ExpiredDeletion, SessionStore, session_store};

use cache::Cache;
use writer::{Kind, Written};

/// Sessions kept in the memory cache. A cached session is a few hundred bytes, so 10 000
/// of them take a few MiB; when the cache is full the least used ones make room, and are
/// read from SQLite again if their visitor comes back.
const CACHE_CAPACITY: u64 = 10_000;

/// Session writes that may wait for the writer. When that many are waiting, further
/// requests wait their turn instead of piling up in memory.
const QUEUE_SIZE: usize = 4096;

/// The touch interval when the idle timeout is long enough: connect-mongo's `touchAfter`
/// as its documentation suggests it, and the interval of step 5 before the restructuring.
pub const TOUCH_AFTER: Duration = Duration::from_secs(60);

/// The touch interval for an idle timeout of `idle`: [`TOUCH_AFTER`], but never more than
/// half the idle timeout. A session's row expires at most the interval before the idle
/// timeout says, so with an interval as long as the timeout a session in use could end.
pub fn touch_interval(idle: Duration) -> Duration {
    TOUCH_AFTER.min(idle / 2)
}

/// Step 5's SQLite store with three ways to go to it less often: a memory cache of the
/// sessions read recently ([`cache`]), one writer that commits the writes of many
/// requests in one statement ([`writer`]), and a touch interval that skips the writes
/// which only move an expiry a little ([`FastStore::save`]). Clones share all three.
#[derive(Clone, Debug)]
pub struct FastStore {
    /// Step 5's store: reads on a cache miss, deletes, the cookie key; and its connections,
    /// one of which the writer takes for its own.
    table: Store,
    cache: Cache,
    /// The queue to the writer.
    writer: mpsc::Sender<writer::Write>,
    /// A save that only moves the expiry by less than this is not written.
    touch_after: time::Duration,
    /// The lock on `<database>.lock`, held for as long as a clone of the store lives.
    _lock: Option<Arc<File>>,
}

impl FastStore {
    /// Opens the SQLite database at `database_url` as step 5's [`store::open`] does
    /// (creating it and its table if missing), after taking the lock that keeps any other
    /// server off it, and starts the writer. `touch_after`: see [`touch_interval`].
    pub async fn open(database_url: &str, touch_after: Duration) -> Result<Self, String> {
        let lock = lock(database_url)?;
        let table = store::open(database_url)
            .await
            .map_err(|err| err.to_string())?;
        let pool = connect(database_url).await?;
        Ok(Self::start(
            table,
            pool,
            lock,
            touch_after,
            writer::write_in_batches,
        ))
    }

    /// The store, with `run` as its writer (the tests give it one that crashes).
    fn start<W, F>(
        table: Store,
        pool: sqlx::SqlitePool,
        lock: Option<File>,
        touch_after: Duration,
        run: W,
    ) -> Self
    where
        W: Fn(sqlx::SqlitePool, Arc<writer::Queue>, Cache) -> F + Send + 'static,
        F: Future<Output = Result<(), sqlx::Error>> + Send + 'static,
    {
        let cache = Cache::new(CACHE_CAPACITY);
        let (sender, queue) = mpsc::channel(QUEUE_SIZE);
        tokio::spawn(writer::supervise(pool, queue, cache.clone(), run));
        Self {
            table,
            cache,
            writer: sender,
            touch_after: time::Duration::try_from(touch_after).unwrap_or(time::Duration::ZERO),
            _lock: lock.map(Arc::new),
        }
    }

    /// Step 5's store underneath, for what needs no cache: the clean-up
    /// ([`store::delete_expired_every`]).
    pub fn table(&self) -> &Store {
        &self.table
    }
}

/// The writer's own connections to the database step 5's store has opened (and made a
/// write-ahead-log database): step 5's store keeps its pool to itself.
pub(crate) async fn connect(database_url: &str) -> Result<sqlx::SqlitePool, String> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(database_url)
        .map_err(|err| err.to_string())?
        .busy_timeout(std::time::Duration::from_secs(5));
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(|err| format!("cannot open the session database {database_url:?}: {err}"))
}

/// Takes an exclusive lock on the file `<database>.lock` beside a SQLite database, or
/// says that another server holds it.
///
/// The cache is right only if every save and delete of the database goes through this
/// process (see [`cache`]): a second server on the same file would log a visitor out in
/// its table while this one's memory keeps them logged in. So the second server is
/// refused at start-up. The lock is the operating system's (`flock` on Linux and macOS,
/// `LockFileEx` on Windows): it ends with the process, however the process ends, even by
/// `kill -9`, so a crashed server never leaves a stale lock behind. The lock is not
/// taken on the database file itself, which SQLite locks in its own way.
fn lock(database_url: &str) -> Result<Option<File>, String> {
    let in_memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
    // Not a SQLite file: step 5's `open` says what is wrong with the URL.
    let database = SqliteConnectOptions::from_str(database_url);
    let (Ok(database), true, false) = (database, database_url.starts_with("sqlite:"), in_memory)
    else {
        return Ok(None);
    };
    let path = PathBuf::from(format!("{}.lock", database.get_filename().display()));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|err| format!("cannot open the lock file {}: {err}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Err(format!(
            "another server is using the session database: stop it, or give this one its own DATABASE_URL (it holds {})",
            path.display()
        )),
        Err(TryLockError::Error(err)) => Err(format!("cannot lock {}: {err}", path.display())),
    }
}

#[async_trait]
impl SessionStore for FastStore {
    /// Stores a brand-new session. Should its random id already be taken (128 random
    /// bits, so in theory only) nothing is stored and we try again with a fresh id.
    ///
    /// The new session is not cached: many are never read again (a visitor who looks at
    /// one page, a bot) and would push returning visitors out. Its first read caches it.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        while self.write(Kind::New, record).await? == Written::IdTaken {
            record.id = Id::default();
        }
        Ok(())
    }

    /// Updates the session's row if it is still there and live, as step 5's store does:
    /// a session deleted meanwhile stays deleted. The writer updates the cache after the
    /// commit, before this returns.
    ///
    /// Step 5 saves the session on every request, to move its expiry (express-session's
    /// `rolling`). A save whose data is what the row holds, and whose expiry is less than
    /// the touch interval past the row's, is not written: the row keeps its expiry, which
    /// is at most the interval earlier than this request asked. That is connect-mongo's
    /// `touchAfter`: a visitor reading pages costs one write per interval, not one per
    /// page. The price is that a session can end up to the interval sooner than the idle
    /// timeout after its last request. An expiry moved *earlier* is always written.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // What memory holds is what the row holds: only committed writes and rows read
        // from the table go in.
        if let Some(row) = self.cache.get(&record.id).await {
            let moved = record.expiry_date - row.expiry_date;
            if row.data == record.data && !moved.is_negative() && moved < self.touch_after {
                return Ok(());
            }
        }
        self.write(Kind::Changed, record).await.map(drop)
    }

    /// From memory if the session is there; otherwise from the table, keeping the copy in
    /// memory unless a logout or a save came while it was being read (see [`Cache`]).
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.cache.get(id).await {
            return Ok(Some(record));
        }
        let seen = self.cache.note().await;
        let record = self.table.load(id).await?;
        if let Some(record) = &record {
            self.cache.fill(seen, record).await;
        }
        Ok(record)
    }

    /// Deletes the row, then drops the session from memory, in that order: a read that
    /// starts after the cache forgot it finds no row either. Memory forgets it even if the
    /// table's delete failed; forgetting is always safe, only keeping can be wrong.
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let deleted = self.table.delete(id).await;
        self.cache.forget(&[*id]).await;
        deleted
    }
}

#[async_trait]
impl ExpiredDeletion for FastStore {
    /// Expired rows leave the table here; the cache drops a session by itself when its
    /// expiry date passes.
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.table.delete_expired().await
    }
}
