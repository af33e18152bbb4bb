//! The writer: one task, one connection, one statement for every session write waiting
//! ("group commit"), a supervisor that starts it again if it stops, and a checkpointer
//! that does SQLite's housekeeping beside it, so that no visitor waits for that.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use time::OffsetDateTime;
use tokio::sync::{Mutex, mpsc, oneshot};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;

use crate::FastStore;
use crate::cache::Cache;

/// The most session writes sent to SQLite in one statement. Each row takes three of the
/// 32 766 parameters a SQLite statement may have; a few hundred rows keep a statement
/// quick to prepare and run.
const BATCH_SIZE: usize = 256;

/// How long the supervisor waits before starting a writer that stopped, so that a
/// database that keeps failing gets a log line now and then, not a busy loop.
const RESTART_PAUSE: Duration = Duration::from_millis(200);

/// How often the checkpointer copies the write-ahead log into the database file.
const CHECKPOINT_PERIOD: Duration = Duration::from_millis(25);

/// The length of the write-ahead log, in pages of 4 KiB, past which the checkpointer asks
/// the writer to start it over: 16 MiB.
const LOG_LIMIT: i64 = 4096;

/// What the writers the supervisor starts one after another share with each other and
/// with the checkpointer.
#[derive(Debug)]
pub struct Queue {
    /// The session writes waiting.
    writes: Mutex<mpsc::Receiver<Write>>,
    /// Set by the checkpointer when the log has grown past [`LOG_LIMIT`].
    log_full: AtomicBool,
}

/// A brand-new session must not replace someone else's row; a changed one replaces its
/// own, if it is still there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    New,
    Changed,
}

/// What became of a write, once the writer has committed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// Committed: the new row is stored, or the live row updated, or (for a session
    /// ended meanwhile) nothing done, as it should be.
    Committed,
    /// Only for [`Kind::New`]: another session already has this id; nothing was stored.
    IdTaken,
}

/// One session write, waiting for the writer.
#[derive(Debug)]
pub struct Write {
    kind: Kind,
    /// The session as the request leaves it, for the cache.
    record: Record,
    /// Its id as the table stores it.
    id: String,
    /// The same encoding the crate's store reads back: the whole record in MessagePack.
    data: Vec<u8>,
    /// Where the writer answers once the write is committed, or has failed (with the
    /// database's error message).
    done: oneshot::Sender<Result<Written, String>>,
}

impl FastStore {
    /// Hands `record` to the writer and waits until it is committed or has failed: no
    /// visitor gets an answer before their session is safely in the database.
    pub(crate) async fn write(
        &self,
        kind: Kind,
        record: &Record,
    ) -> session_store::Result<Written> {
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
        self.writer.send(write).await.map_err(|_| stopped())?;
        committed
            .await
            .map_err(|_| stopped())?
            .map_err(session_store::Error::Backend)
    }
}

/// Runs the writer (`run`, [`write_in_batches`] but in the tests) until the last
/// [`FastStore`] is dropped, and starts it again whenever it stops before that.
///
/// Without this, a writer that panicked or lost its connection would leave every save
/// failing while the server went on answering. Here the writes of its last batch fail
/// (their visitors get step 5's 500 page: not saved), the log says so, and the writes
/// waiting in the queue go to a new writer on a fresh connection. What the stopped
/// writer's batch did to the table is not known, so memory is emptied: the next reads
/// ask the table.
pub(crate) async fn supervise<W, F>(
    pool: SqlitePool,
    queue: mpsc::Receiver<Write>,
    cache: Cache,
    run: W,
) where
    W: Fn(SqlitePool, Arc<Queue>, Cache) -> F,
    F: Future<Output = Result<(), sqlx::Error>> + Send + 'static,
{
    let queue = Arc::new(Queue {
        writes: Mutex::new(queue),
        log_full: AtomicBool::new(false),
    });
    let checkpointer = tokio::spawn(checkpoint_every(pool.clone(), queue.clone()));
    loop {
        let why = match tokio::spawn(run(pool.clone(), queue.clone(), cache.clone())).await {
            // The queue is closed: no store is left to write for.
            Ok(Ok(())) => return checkpointer.abort(),
            Ok(Err(err)) => err.to_string(),
            Err(crashed) => crashed.to_string(),
        };
        tracing::error!(
            "the session writer stopped, its last writes failed: {why}; starting it again"
        );
        cache.forget_all().await;
        tokio::time::sleep(RESTART_PAUSE).await;
    }
}

/// The writer: takes every session write waiting in `queue`, commits them together, then
/// answers them all. It runs until the last [`FastStore`] is dropped, or until a
/// statement fails: then it answers that batch with the error and stops, and the
/// supervisor starts another on a fresh connection, in case the fault was the
/// connection's.
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
pub(crate) async fn write_in_batches(
    pool: SqlitePool,
    queue: Arc<Queue>,
    cache: Cache,
) -> Result<(), sqlx::Error> {
    // A connection of its own, taken out of the pool: never shared, never returned, never
    // "pinged" before use.
    let mut conn = pool.acquire().await?.detach();
    // A commit appends to the write-ahead log (the `-wal` file). By default the
    // connection whose commit takes the log past 1000 pages then copies the log into the
    // database file and flushes it to disk (a "checkpoint") before its statement returns.
    // That connection is the writer, and every visitor in the queue would wait for it:
    // under a stream of new sessions, one request in a hundred took up to 1.4 s. The
    // checkpointer ([`checkpoint_every`]) does that copying instead. And should a burst of
    // writes ever grow the `-wal` file past 64 MiB, it is cut back to that size when the
    // log starts over.
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
        if queue.log_full.swap(false, Ordering::Relaxed) {
            restart_log(&mut conn).await;
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
/// checkpointing at the same moment), the checkpointer finds it long again and asks
/// again, 25 ms later: nothing is lost, and the writer is not held up meanwhile.
async fn restart_log(conn: &mut SqliteConnection) {
    let copied = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(conn)
        .await;
    if let Err(err) = copied {
        tracing::warn!("the session database's log could not be copied: {err}");
    }
}

/// The checkpointer: every [`CHECKPOINT_PERIOD`], on a connection of the pool, copies the
/// pages the writer has added to the write-ahead log into the database file, while the
/// writer goes on (`PASSIVE`: it waits for nobody and makes nobody wait).
///
/// SQLite starts the log over only once every page in it has been copied, and under a
/// steady stream of writes each copy ends with the writer already further on: the log,
/// and the `-wal` file, would grow for as long as the stream lasts (the test
/// `under_a_stream_of_writes_the_write_ahead_log_stays_bounded` shows it). So when the
/// log passes [`LOG_LIMIT`], the checkpointer asks the writer to start it over
/// ([`restart_log`]).
async fn checkpoint_every(pool: SqlitePool, queue: Arc<Queue>) {
    let mut ticks = tokio::time::interval(CHECKPOINT_PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        // Until the writer has made its copy, the checkpointer keeps out of its way: of
        // two checkpoints at once, the second is refused.
        if queue.log_full.load(Ordering::Relaxed) {
            continue;
        }
        // The answer: (1 if it could not finish, pages in the log, pages copied).
        let checkpoint = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        match checkpoint {
            Ok((_, logged, _)) => {
                failing = false;
                if logged > LOG_LIMIT {
                    queue.log_full.store(true, Ordering::Relaxed);
                }
            }
            // Said once, not forty times a second, for as long as the fault lasts.
            Err(err) if !failing => {
                failing = true;
                tracing::warn!("a checkpoint of the session database failed: {err}");
            }
            Err(_) => {}
        }
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
/// still there and live: a session deleted or expired meanwhile stays gone (see
/// [`FastStore::save`]). The statement returns the ids it updated, and only those sessions' new
/// states go into the cache.
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

    // Noted before the statement: a logout between the `UPDATE` and the cache update
    // must keep the session out of memory (see [`Cache::saved`]).
    let seen = cache.note().await;
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
            cache.saved(seen, &found, &gone).await;
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use tower_sessions::SessionStore;

    use super::*;

    /// A session that expires in an hour.
    fn session() -> Record {
        Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
        }
    }

    #[tokio::test]
    async fn a_writer_that_crashes_fails_its_writes_and_a_new_one_takes_over() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
        let table = step5_hardened::store::open(&url).await.expect("opens");
        // The first writer takes one write and panics, as a bug in it would.
        let crash = Arc::new(AtomicBool::new(true));
        let run = move |pool, queue: Arc<Queue>, cache| {
            let crash = crash.swap(false, Ordering::SeqCst);
            async move {
                if crash {
                    let _taken = queue.writes.lock().await.recv().await;
                    panic!("a bug in the writer");
                }
                write_in_batches(pool, queue, cache).await
            }
        };
        let pool = crate::connect(&url).await.expect("connects");
        let store = FastStore::start(table, pool, None, Duration::ZERO, run);

        let (mut lost, mut saved) = (session(), session());
        let refused = store.create(&mut lost).await;
        store
            .create(&mut saved)
            .await
            .expect("the new writer stores it");

        let refused = refused.expect_err("the crashed writer's write fails");
        assert!(
            refused.to_string().contains("writer has stopped"),
            "{refused}"
        );
        let stored = store.table().load(&saved.id).await.expect("loads");
        assert_eq!(stored.map(|record| record.id), Some(saved.id));
    }
}
