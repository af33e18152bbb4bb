//! A session cache for step 5's app, with the same rules: [`CachedStore`], passed to
//! `step5_hardened::app()` like any store. Sessions read recently are answered from
//! memory, a save that only moves an expiry a little is skipped, and still a logged-out
//! session never comes back, from the table or from memory.

pub mod cache;
mod lock;

use std::fmt::Debug;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteSynchronous};
use step5_hardened::store::{self, Store};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::{ExpiredDeletion, SessionStore, session_store};

use cache::Cache;
pub use lock::DatabaseLock;

/// Sessions kept in the memory cache. A cached session is a few hundred bytes, so 10 000
/// of them take a few MiB; when the cache is full the least used ones make room, and are
/// read from SQLite again if their visitor comes back.
const CACHE_CAPACITY: u64 = 10_000;

/// The touch interval when the idle timeout is long enough: connect-mongo's `touchAfter`
/// (its documentation's example is a day, for sessions that last 14 days), here a minute
/// for step 5's idle timeout of 30 minutes.
pub const TOUCH_AFTER: Duration = Duration::from_secs(60);

/// The touch interval for an idle timeout of `idle`: [`TOUCH_AFTER`], but never more than
/// half the idle timeout. A session's row expires at most the interval before the idle
/// timeout says, so with an interval as long as the timeout a session in use could end.
pub fn touch_interval(idle: Duration) -> Duration {
    TOUCH_AFTER.min(idle / 2)
}

/// How a [`CachedStore`] gets a session into the table. Here, [`OneByOne`]: one statement
/// per save. `appendix/group-commit` plugs in a writer that commits many at once.
#[async_trait]
pub trait Writer: Clone + Debug + Send + Sync + 'static {
    /// Stores a brand-new session, drawing a fresh id should its own be taken. The
    /// session does not go into the cache (see [`cache`]).
    async fn create(&self, record: &mut Record) -> session_store::Result<()>;

    /// Updates the session's row if it is still there and live, and before returning
    /// tells the cache with [`Cache::saved`] (the row was found, or it was gone) or, if
    /// the statement failed, [`Cache::forget`]. Answers once the change is stored. One
    /// update at a time, from its statement to the cache, as [`Cache::saved`] asks.
    async fn update(&self, record: &Record) -> session_store::Result<()>;
}

/// Step 5's SQLite store with two ways to go to it less often: a memory cache of the
/// sessions read recently ([`cache`]), and a touch interval that skips the writes which
/// only move an expiry a little ([`CachedStore::save`]). Clones share the cache and the
/// writer.
#[derive(Clone, Debug)]
pub struct CachedStore<W = OneByOne> {
    /// Step 5's store: reads on a cache miss, deletes, the clean-up of expired rows.
    store: Store,
    cache: Cache,
    writer: W,
    /// A save that only moves the expiry by less than this is not written.
    touch_after: time::Duration,
    /// Held for as long as a clone of the store lives: one server per database file.
    _lock: Arc<DatabaseLock>,
}

impl CachedStore {
    /// Opens the SQLite database at `database_url` with step 5's [`store::open`]
    /// (creating it and its table if missing), takes the lock that keeps any other server
    /// off it, and saves each session with one statement of its own. `touch_after`: see
    /// [`touch_interval`].
    pub async fn open(database_url: &str, touch_after: Duration) -> Result<Self, String> {
        Self::open_with(database_url, touch_after, |store, pool, cache| OneByOne {
            store: store.clone(),
            pool,
            cache,
            in_order: Arc::default(),
        })
        .await
    }
}

impl<W: Writer> CachedStore<W> {
    /// As [`CachedStore::open`], with the writer `writer` makes from step 5's store, a
    /// pool of connections of this store's own on the same file, and the cache.
    pub async fn open_with(
        database_url: &str,
        touch_after: Duration,
        writer: impl FnOnce(&Store, SqlitePool, Cache) -> W,
    ) -> Result<Self, String> {
        let store = store::open(database_url)
            .await
            .map_err(|err| err.to_string())?;
        let lock = DatabaseLock::take(database_url)?;
        let cache = Cache::new(CACHE_CAPACITY);
        let pool = open_pool(database_url)
            .await
            .map_err(|err| format!("cannot open the session database: {err}"))?;
        Ok(Self {
            writer: writer(&store, pool, cache.clone()),
            store,
            cache,
            touch_after: time::Duration::try_from(touch_after).unwrap_or(time::Duration::ZERO),
            _lock: Arc::new(lock),
        })
    }
}

/// Connections of this store's own to the file step 5's `open` has prepared (its table,
/// its write-ahead log, which SQLite keeps in the file). A save is answered once it is
/// committed with `synchronous = NORMAL`: as step 5's, it survives `kill -9`.
async fn open_pool(database_url: &str) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(database_url)?
        .synchronous(SqliteSynchronous::Normal)
        // SQLite lets one connection write at a time: a save waits for step 5's pool's
        // delete, or the other way round, instead of failing with "database is locked".
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        // Writes take turns in SQLite anyway (group-commit's writer takes one, its
        // checkpointer the other); and, as in step 5, no "ping" before each use.
        .max_connections(2)
        .test_before_acquire(false)
        .connect_with(options)
        .await
}

/// The writer of [`CachedStore::open`]: each save is one `UPDATE` on the store's pool.
#[derive(Clone, Debug)]
pub struct OneByOne {
    store: Store,
    pool: SqlitePool,
    cache: Cache,
    /// Held by a save from its `UPDATE` until the cache has its outcome.
    in_order: Arc<tokio::sync::Mutex<()>>,
}

#[async_trait]
impl Writer for OneByOne {
    /// Step 5's own `create`: a new session is not cached, so nothing is to learn here.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.store.create(record).await
    }

    /// Step 5's `UPDATE` of a live row, with `RETURNING id` so that the cache learns
    /// whether it found the row: step 5's `save` does not say, and only a session whose
    /// row was updated may go into memory.
    async fn update(&self, record: &Record) -> session_store::Result<()> {
        // The encoding step 5's store reads back: the whole record in MessagePack.
        let data = rmp_serde::to_vec(record)
            .map_err(|err| session_store::Error::Encode(err.to_string()))?;
        // One save at a time, from its `UPDATE` to its news in the cache, so the cache
        // learns each session's states in the order the table took them (what
        // `Cache::saved` asks). SQLite commits one write at a time anyway.
        let _in_order = self.in_order.lock().await;
        let before = self.cache.change_count().await;
        let found = sqlx::query_scalar::<_, String>(
            "UPDATE tower_sessions SET data = ?, expiry_date = ? \
             WHERE id = ? AND expiry_date > ? RETURNING id",
        )
        .bind(data)
        .bind(record.expiry_date)
        .bind(record.id.to_string())
        .bind(OffsetDateTime::now_utc())
        // All rows, not `fetch_optional`: sqlx stops a statement after the row it asked
        // for, and an `UPDATE ... RETURNING` left unfinished keeps its transaction open
        // (sqlx issue 3430), so the write-ahead log is never checkpointed and grows.
        .fetch_all(&self.pool)
        .await
        .map(|ids| ids.into_iter().next());
        match &found {
            Ok(Some(_)) => self.cache.saved(before, &[record], &[]).await,
            Ok(None) => self.cache.saved(before, &[], &[record.id]).await,
            // Most likely nothing changed, but memory must never disagree with the table,
            // and forgetting is always safe: the next read asks the table.
            Err(_) => self.cache.forget(&[record.id]).await,
        }
        found
            .map(drop)
            .map_err(|err| session_store::Error::Backend(err.to_string()))
    }
}

#[async_trait]
impl<W: Writer> SessionStore for CachedStore<W> {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.writer.create(record).await
    }

    /// Updates the session's row if it is still there and live, as step 5's store does:
    /// a session deleted meanwhile stays deleted. The cache learns of it before this
    /// returns.
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
        self.writer.update(record).await
    }

    /// From memory if the session is there; otherwise from the table, keeping the copy in
    /// memory unless a logout or a save came while it was being read (see [`Cache`]).
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.cache.get(id).await {
            return Ok(Some(record));
        }
        let before = self.cache.change_count().await;
        let record = self.store.load(id).await?;
        if let Some(record) = &record {
            self.cache.fill(before, record).await;
        }
        Ok(record)
    }

    /// Deletes the row, then drops the session from memory, in that order: a read that
    /// starts after the cache forgot it finds no row either. Memory forgets it even if the
    /// table's delete failed; forgetting is always safe, only keeping can be wrong.
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let deleted = self.store.delete(id).await;
        self.cache.forget(&[*id]).await;
        deleted
    }
}

#[async_trait]
impl<W: Writer> ExpiredDeletion for CachedStore<W> {
    /// Expired rows leave the table here; the cache drops a session by itself when its
    /// expiry date passes.
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.store.delete_expired().await
    }
}
