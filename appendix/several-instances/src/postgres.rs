//! The session store on PostgreSQL: a database server that several instances of the app
//! share, so a user logged in through one is logged in on all of them.
//!
//! This is what the Express tutorial means by a store that makes an app "easy to scale":
//! the cookie carries only the session id, and whichever instance gets the next request
//! looks the session up here. tower-sessions-sqlx-store keeps the rows in the table
//! `tower_sessions.session`, with the same columns as step 5's SQLite table. The key that
//! signs the cookies is not here: every instance gets the same one from its environment
//! (`SESSION_SECRET`), never from the database beside the sessions it signs.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::{ExpiredDeletion, SessionStore, session_store};
use tower_sessions_sqlx_store::{PostgresStore, SqlxStoreError};

use crate::without_password;

/// Connections each instance keeps to PostgreSQL, which, unlike SQLite, writes from many
/// connections at once. The instances share the server's connection limit (100 by
/// default): ten instances of ten connections use it all, so stay modest.
const POOL_SIZE: u32 = 10;

/// How long a request waits for a free connection before it fails with the "session
/// store failed" page rather than hanging. At start-up it is also how long the server
/// tries to reach PostgreSQL before it gives up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to the PostgreSQL server at `database_url` and creates the session tables if
/// missing, so it fails now, at start-up, when the server cannot be reached or the user
/// may not create them. The error is one line for the user, which names the database
/// but never its password.
pub async fn open(database_url: &str) -> Result<PgStore, String> {
    let fail = |err| {
        let url = without_password(database_url);
        format!("cannot open the session database {url}: {err}")
    };
    // sqlx logs a URL parameter it does not know together with its value, so a misspelt
    // `?passwd=` would reach the log in clear: the URL is read with the log silenced, and
    // such a parameter is ignored without a word.
    let silenced = tracing::subscriber::NoSubscriber::default();
    let options =
        tracing::subscriber::with_default(silenced, || database_url.parse()).map_err(fail)?;
    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(fail)?;
    create_tables(&pool).await.map_err(fail)?;
    Ok(PgStore {
        sessions: PostgresStore::new(pool.clone()),
        pool,
    })
}

/// Creates the schema `tower_sessions` and its table `session` (the crate's `migrate`).
///
/// Instances started together on an empty database all run this at once, and `IF NOT
/// EXISTS` does not make that safe: PostgreSQL checks that a table is missing, then adds it
/// and its row type to its catalogue, so the second instance fails with `type "session"
/// already exists`, `relation ... already exists` or a unique violation,
/// depending on how far the first one got (and the crate's `migrate` returns early, without
/// an error, while another instance is making its schema). Rather than guess every error
/// such a race can give, the instances take turns: each holds a PostgreSQL advisory lock (a
/// lock on a number they all agree on) while it creates the tables. The lock belongs to one
/// connection and ends with it, so an instance that dies half-way never blocks the others.
async fn create_tables(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut lock = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(SCHEMA_LOCK)
        .execute(&mut *lock)
        .await?;
    let created = PostgresStore::new(pool.clone()).migrate().await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(SCHEMA_LOCK)
        .execute(&mut *lock)
        .await?;
    created.map(|_| ())
}

/// The number the instances lock while they create the tables: any number does, as long
/// as nothing else on the database server locks it. These are the bytes of "sessions".
const SCHEMA_LOCK: i64 = 0x7365_7373_696f_6e73;

/// The session store on PostgreSQL, with the same two rules as step 5's SQLite store.
///
/// There is no memory cache in front of it, and with several instances that matters
/// twice: a logout through one instance must end the session on all of them at once,
/// and another instance's cache would still hold it. Every request reads the database.
#[derive(Clone, Debug)]
pub struct PgStore {
    /// The crate's store, for what it does right already: load, delete, clean up.
    sessions: PostgresStore,
    /// The same database, for the two writes done here.
    pool: PgPool,
}

#[async_trait]
impl SessionStore for PgStore {
    /// Stores a brand-new session. Should its random id already be taken, nothing is
    /// stored and we try again with a fresh id. PostgreSQL numbers its parameters `$1`,
    /// `$2`...; SQLite's `?` would be a syntax error here.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let inserted = sqlx::query(
                "INSERT INTO tower_sessions.session (id, data, expiry_date) \
                 VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(encode(record)?)
            .bind(record.expiry_date)
            .execute(&self.pool)
            .await
            .map_err(SqlxStoreError::Sqlx)?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates the session's row if it is still there and live. With several instances
    /// the slow request and the logout that races it are often on different machines;
    /// the rule is in the database, so it holds all the same.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        sqlx::query(
            "UPDATE tower_sessions.session SET data = $1, expiry_date = $2 \
             WHERE id = $3 AND expiry_date > $4",
        )
        .bind(encode(record)?)
        .bind(record.expiry_date)
        .bind(record.id.to_string())
        .bind(OffsetDateTime::now_utc())
        .execute(&self.pool)
        .await
        .map_err(SqlxStoreError::Sqlx)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.sessions.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.sessions.delete(id).await
    }
}

/// The same encoding the crate's store reads back: the whole record in MessagePack.
fn encode(record: &Record) -> Result<Vec<u8>, SqlxStoreError> {
    rmp_serde::to_vec(record).map_err(SqlxStoreError::Encode)
}

/// Every instance runs the clean-up; the deletes of expired rows simply overlap.
#[async_trait]
impl ExpiredDeletion for PgStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.sessions.delete_expired().await
    }
}
