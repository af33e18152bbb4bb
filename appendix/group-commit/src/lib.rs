//! Group commit for the session cache's store: [`open`] gives `appendix-session-cache`'s
//! [`CachedStore`] with a writer of its own, one task and one connection that commit the
//! saves of many requests in one statement. Nobody is answered before their change is
//! committed; a supervisor starts the writer again if it stops; and a checkpointer does
//! SQLite's housekeeping beside it, so that no visitor waits for that.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use appendix_session_cache::cache::Cache;
use appendix_session_cache::{CachedStore, Writer};
use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use time::OffsetDateTime;
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;

/// Session writes that may wait for the writer. When that many are waiting, further
/// requests wait their turn instead of piling up in memory.
const QUEUE_SIZE: usize = 4096;

/// The most session writes sent to SQLite in one statement. Each row takes three of the
/// 32 766 parameters a SQLite statement may have; a few hundred rows keep a statement
/// quick to prepare and run.
const BATCH_SIZE: usize = 256;

/// How long the supervisor waits before starting a writer that stopped: a database that
/// keeps failing costs a try every 200 ms, not a busy loop, and a fault that passes
/// holds the writes queued meanwhile for no longer than that.
const RESTART_PAUSE: Duration = Duration::from_millis(200);

/// At most one log line per this long about a writer that keeps stopping (a full disk
/// stops it five times a second): the line counts the stops since the one before.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// The checkpointer's pause after each checkpoint. Commits during the pause wake it once,
/// after it. Shorter, and the same pages cost more checkpoints (each one a query and a
/// flush of the database file to disk); longer, and each copy, and the log between two,
/// is larger. 25 ms is the pause `bench/run` measured the design with (scenario b's p99
/// of 11 to 14 ms, from 0.7 to 1.4 s with the checkpoints on the writer); no other was
/// measured. An idle server makes no checkpoint at all: nothing wakes the checkpointer.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(25);

/// The length of the write-ahead log, in pages of 4 KiB, past which the checkpointer asks
/// the writer to start it over: 16 MiB.
const WAL_LIMIT: i64 = 4096;

/// The session store of step 5's app with the cache of `appendix-session-cache` and the
/// writer of this crate, on the SQLite database at `database_url`; `touch_after` as
/// [`appendix_session_cache::touch_interval`] says.
pub async fn open(
    database_url: &str,
    touch_after: Duration,
) -> Result<CachedStore<GroupCommit>, String> {
    CachedStore::open_with(database_url, touch_after, |_, pool, cache| {
        let (writes, queue) = mpsc::channel(QUEUE_SIZE);
        tokio::spawn(supervise(pool, queue, cache));
        GroupCommit { writes }
    })
    .await
}

/// The writer's end of the store: saves go into its queue, and are answered from it.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    writes: mpsc::Sender<Write>,
}

/// What the writers the supervisor starts one after another share with each other and
/// with the checkpointer.
#[derive(Debug)]
struct Queue {
    /// The session writes waiting.
    writes: Mutex<mpsc::Receiver<Write>>,
    /// Told of each commit, to wake the checkpointer.
    committed: Notify,
    /// Set by the checkpointer when the log has grown past [`WAL_LIMIT`].
    wal_full: AtomicBool,
}

/// A brand-new session must not replace someone else's row; a changed one replaces its
/// own, if it is still there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    New,
    Changed,
}

/// What became of a write, once the writer has committed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Written {
    /// Committed: the new row is stored, or the live row updated, or (for a session
    /// ended meanwhile) nothing done, as it should be.
    Committed,
    /// Only for [`Kind::New`]: another session already has this id; nothing was stored.
    IdTaken,
}

/// One session write, waiting for the writer.
#[derive(Debug)]
struct Write {
    kind: Kind,
    /// The session as the request leaves it, for the cache.
    record: Record,
    /// Its id as the table stores it.
    id: String,
    /// The encoding step 5's store reads back: the whole record in MessagePack.
    data: Vec<u8>,
    /// Where the writer answers once the write is committed, or has failed (with the
    /// database's error message).
    done: oneshot::Sender<Result<Written, String>>,
}

#[async_trait]
impl Writer for GroupCommit {
    /// Stores a brand-new session. Should its random id already be taken (128 random
    /// bits, so in theory only) nothing is stored and we try again with a fresh id.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        while self.write(Kind::New, record).await? == Written::IdTaken {
            record.id = Id::default();
        }
        Ok(())
    }

    /// The writer updates the cache after the commit, before this returns.
    async fn update(&self, record: &Record) -> session_store::Result<()> {
        self.write(Kind::Changed, record).await.map(drop)
    }
}

impl GroupCommit {
    /// Hands `record` to the writer and waits until it is committed or has failed: no
    /// visitor gets an answer before their session is safely in the database.
    async fn write(&self, kind: Kind, record: &Record) -> session_store::Result<Written> {
        let stopped = || session_store::Error::Backend("the session writer has stopped".into());
        let (done, committed) = oneshot::channel();
        let write = Write {
            kind,
            record: record.clone(),
            id: record.id.to_string(),
            // Encoded here, by the request, so that requests share that work out.
            data: rmp_serde::to_vec(record)
                .map_err(|err| session_store::Error::Encode(err.to_string()))?,
            done,
        };
        self.writes.send(write).await.map_err(|_| stopped())?;
        committed
            .await
            .map_err(|_| stopped())?
            .map_err(session_store::Error::Backend)
    }
}

/// Runs the writer until the last store is dropped, and starts it again whenever it
/// stops before that.
///
/// Without this, a writer that panicked or lost its connection would leave every save
/// failing while the server went on answering. Here the writes of its last batch fail
/// (their visitors get step 5's 500 page: not saved), the log says so, and the writes
/// waiting in the queue go to a new writer on a fresh connection. What the stopped
/// writer's batch did to the table is not known, so memory is emptied: the next reads
/// ask the table.
async fn supervise(pool: SqlitePool, queue: mpsc::Receiver<Write>, cache: Cache) {
    let queue = Arc::new(Queue {
        writes: Mutex::new(queue),
        committed: Notify::new(),
        wal_full: AtomicBool::new(false),
    });
    let checkpointer = tokio::spawn(checkpoint_after_commits(pool.clone(), queue.clone()));
    let (mut stops, mut reported) = (0, None::<Instant>);
    loop {
        let writer = write_in_batches(pool.clone(), queue.clone(), cache.clone());
        let why = match tokio::spawn(writer).await {
            // The queue is closed: no store is left to write for.
            Ok(Ok(())) => return checkpointer.abort(),
            Ok(Err(err)) => err.to_string(),
            Err(crashed) => crashed.to_string(),
        };
        stops += 1;
        if reported.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
            tracing::error!(
                stops,
                "the session writer stopped, its last writes failed: {why}; starting it again"
            );
            (stops, reported) = (0, Some(Instant::now()));
        }
        cache.forget_all().await;
        tokio::time::sleep(RESTART_PAUSE).await;
    }
}

/// The writer: takes every session write waiting in `queue`, commits them together, then
/// answers them all. It runs until the last store is dropped, or until a statement
/// fails: then it answers that batch with the error and stops, and the supervisor starts
/// another on a fresh connection, in case the fault was the connection's.
///
/// This is "group commit", a trick databases use themselves (PostgreSQL and MySQL group
/// the commits of concurrent transactions into one flush of their log). Each statement
/// sent to SQLite costs a trip to the connection's own thread and back, and that trip,
/// not SQLite's work, is most of the price of a small write. When many visitors save at
/// the same moment, one statement carrying all their rows costs little more than one
/// carrying a single row. Nobody waits for a batch to fill (there is no timer): the
/// requests already running get one turn to add their writes, then the batch goes out,
/// and the writes that arrive while it is being committed form the next one. One
/// connection does all the writing, so SQLite never makes it wait for another.
///
/// Durability is unchanged: a visitor hears "saved" only after the statement holding
/// their write has committed. Should the process die mid-batch, none of that batch's
/// visitors had an answer yet.
async fn write_in_batches(
    pool: SqlitePool,
    queue: Arc<Queue>,
    cache: Cache,
) -> Result<(), sqlx::Error> {
    // A connection of its own, taken out of the pool: never shared, never returned.
    let mut conn = pool.acquire().await?.detach();
    // A commit appends to the write-ahead log (the `-wal` file). By default the
    // connection whose commit takes the log past 1000 pages then copies the log into the
    // database file and flushes it to disk (a "checkpoint") before its statement returns.
    // That connection is the writer, and every visitor in the queue would wait for it:
    // under a stream of new sessions, one request in a hundred took up to 1.4 s. The
    // checkpointer ([`checkpoint_after_commits`]) does that copying instead. Should a
    // burst of writes grow the `-wal` file past 64 MiB, it is cut back to that size when
    // the log starts over. The other connections (step 5's, which delete a session at
    // logout, and the pool's) keep SQLite's automatic checkpoint: they write rarely, and
    // such a checkpoint makes only the logout that runs it wait.
    sqlx::query("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864")
        .execute(&mut conn)
        .await?;
    let mut writes = queue.writes.lock().await;
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    while writes.recv_many(&mut batch, BATCH_SIZE).await > 0 {
        // The first write of a batch wakes the writer while other requests are still on
        // their way to the queue, a few microseconds behind it. Going to the back of the
        // runtime's line once lets them in; without it they would wait for this batch's
        // commit, and with 32 visitors saving at once (scenario a of `bench/run`) the
        // server answered 31.5k requests a second instead of 36k. The batch goes out
        // after that one turn, whatever has come.
        tokio::task::yield_now().await;
        while batch.len() < BATCH_SIZE
            && let Ok(write) = writes.try_recv()
        {
            batch.push(write);
        }
        let (new, changed) = batch.drain(..).partition(|write| write.kind == Kind::New);
        let inserted = insert_new(&mut conn, new).await;
        let saved = save_changed(&mut conn, &cache, changed).await;
        inserted.and(saved)?;
        queue.committed.notify_one();
        if queue.wal_full.swap(false, Ordering::Relaxed) {
            restart_wal(&mut conn).await;
        }
    }
    Ok(())
}

/// Copies into the database file the pages the checkpointer has not copied yet, a few,
/// so that the writer's next commit starts the log over from its start, as SQLite does
/// once every page is copied and no read is still using the log. Done by the writer,
/// between two batches, because no page is being added then: a copy made on another
/// connection would end behind the writer again. `PASSIVE` again: it never waits, so a
/// long read (someone's `sqlite3` shell) cannot hold the writer up.
///
/// Should the log not start over (that read is still using it, or a logout's commit was
/// checkpointing at the same moment), the checkpointer finds it long again after the
/// next commit and asks again: nothing is lost, and the writer is not held up meanwhile.
async fn restart_wal(conn: &mut SqliteConnection) {
    let copied = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(conn)
        .await;
    if let Err(err) = copied {
        tracing::warn!("the session database's write-ahead log could not be copied: {err}");
    }
}

/// The checkpointer: after the writer's commits, at most once per [`CHECKPOINT_PAUSE`],
/// on a connection of the pool, copies the pages the writer has added to the write-ahead
/// log into the database file, while the writer goes on (`PASSIVE`: it waits for nobody
/// and makes nobody wait).
///
/// SQLite starts the log over only once every page in it has been copied, and under a
/// steady stream of writes each copy ends with the writer already further on: the log,
/// and the `-wal` file, would grow for as long as the stream lasts (the test
/// `under_a_stream_of_writes_the_write_ahead_log_stays_bounded` shows it). So when the
/// log passes [`WAL_LIMIT`], the checkpointer asks the writer to start it over
/// ([`restart_wal`]).
async fn checkpoint_after_commits(pool: SqlitePool, queue: Arc<Queue>) {
    let mut failing = false;
    loop {
        // Every commit since the last checkpoint, one wake-up (`Notify` keeps one).
        queue.committed.notified().await;
        // Until the writer has made its copy, the checkpointer keeps out of its way: of
        // two checkpoints at once, the second is refused.
        if !queue.wal_full.load(Ordering::Relaxed) {
            // The answer: (1 if it could not finish, pages in the log, pages copied).
            let checkpoint = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&pool)
                .await;
            match checkpoint {
                Ok((_, logged, _)) => {
                    failing = false;
                    if logged > WAL_LIMIT {
                        queue.wal_full.store(true, Ordering::Relaxed);
                    }
                }
                // Said once, not at every commit, for as long as the fault lasts.
                Err(err) if !failing => {
                    failing = true;
                    tracing::warn!("a checkpoint of the session database failed: {err}");
                }
                Err(_) => {}
            }
        }
        tokio::time::sleep(CHECKPOINT_PAUSE).await;
    }
}

/// Inserts brand-new sessions in one statement. A row whose id is taken is left alone
/// (`DO NOTHING`) and is missing from the ids the statement returns.
async fn insert_new(conn: &mut SqliteConnection, writes: Vec<Write>) -> Result<(), sqlx::Error> {
    if writes.is_empty() {
        return Ok(());
    }
    // Two new sessions with one id in a single batch: the second one's id is taken.
    let mut ids = HashSet::new();
    let (first, repeated): (Vec<_>, Vec<_>) = writes
        .into_iter()
        .partition(|write| ids.insert(write.id.clone()));
    for write in repeated {
        let _ = write.done.send(Ok(Written::IdTaken));
    }

    let mut insert = QueryBuilder::new("INSERT INTO tower_sessions (id, data, expiry_date) ");
    push_rows(&mut insert, &first);
    insert.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
    let inserted: Result<HashSet<String>, _> = insert
        .build_query_scalar()
        .fetch_all(&mut *conn)
        .await
        .map(HashSet::from_iter);

    for write in first {
        let result = match &inserted {
            Ok(ids) if ids.contains(&write.id) => Ok(Written::Committed),
            Ok(_) => Ok(Written::IdTaken),
            Err(err) => Err(err.to_string()),
        };
        // A visitor who has gone away meanwhile is no longer waiting for the answer.
        let _ = write.done.send(result);
    }
    inserted.map(drop)
}

/// Writes changed sessions back in one statement, as an `UPDATE` of the rows that are
/// still there and live, as step 5's store does for one: a session deleted or expired
/// meanwhile stays gone. The statement returns the ids it updated, and only those
/// sessions' new states go into the cache.
async fn save_changed(
    conn: &mut SqliteConnection,
    cache: &Cache,
    writes: Vec<Write>,
) -> Result<(), sqlx::Error> {
    if writes.is_empty() {
        return Ok(());
    }
    // One session changed twice in a batch (two tabs, say): the later write is its
    // newest state and the only one worth writing.
    let mut ids = HashSet::new();
    let newest: Vec<&Write> = writes
        .iter()
        .rev()
        .filter(|write| ids.insert(write.id.as_str()))
        .collect();

    // Taken before the statement: a logout between the `UPDATE` and the cache update
    // must keep the session out of memory (see [`Cache::saved`]).
    let before = cache.change_count().await;
    // SQLite names the columns of a `VALUES` list column1, column2, column3.
    let mut update = QueryBuilder::new(
        "UPDATE tower_sessions \
         SET data = changed.column2, expiry_date = changed.column3 FROM (",
    );
    push_rows(&mut update, newest.iter().copied());
    update.push(
        ") AS changed WHERE tower_sessions.id = changed.column1 \
         AND tower_sessions.expiry_date > ",
    );
    update.push_bind(OffsetDateTime::now_utc());
    update.push(" RETURNING id");
    let updated: Result<HashSet<String>, _> = update
        .build_query_scalar()
        .fetch_all(&mut *conn)
        .await
        .map(HashSet::from_iter);

    // The cache first, then the answers: a visitor's next request must find their new
    // state in memory, not the one before it.
    match &updated {
        Ok(updated_ids) => {
            let (found, gone): (Vec<&Write>, Vec<&Write>) = newest
                .iter()
                .partition(|write| updated_ids.contains(&write.id));
            let found: Vec<&Record> = found.iter().map(|write| &write.record).collect();
            let gone: Vec<Id> = gone.iter().map(|write| write.record.id).collect();
            cache.saved(before, &found, &gone).await;
        }
        // A failed statement most likely changed nothing, but memory must never disagree
        // with the table, and forgetting is always safe: the next read asks the table.
        Err(_) => {
            let ids: Vec<Id> = newest.iter().map(|write| write.record.id).collect();
            cache.forget(&ids).await;
        }
    }
    let result = match &updated {
        Ok(_) => Ok(Written::Committed),
        Err(err) => Err(err.to_string()),
    };
    for write in writes {
        let _ = write.done.send(result.clone());
    }
    updated.map(drop)
}

/// `VALUES (…), (…), …`: one row of `(id, data, expiry_date)` per write.
fn push_rows<'a>(
    query: &mut QueryBuilder<'a, Sqlite>,
    writes: impl IntoIterator<Item = &'a Write>,
) {
    query.push_values(writes, |mut row, write| {
        row.push_bind(write.id.as_str())
            .push_bind(write.data.as_slice())
            .push_bind(write.record.expiry_date);
    });
}
