//! The session store on PostgreSQL: a database server that several instances of the app
//! share, so a user logged in through one is logged in on all of them.
//!
//! This is what the Express tutorial means by a store that makes an app "easy to scale":
//! the cookie carries only the session id, and whichever instance gets the next request
//! looks the session up here. tower-sessions-sqlx-store keeps the rows in the table
//! `tower_sessions.session`, with the same columns as on SQLite; the cookie key, when
//! the environment gives none, sits beside them in `tower_sessions.session_secret`.
//!
//! [`PgStore`] keeps the rules of the SQLite [`Store`](super::Store): a save only updates
//! a live row, a new session never replaces another one.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use time::OffsetDateTime;
use tower_sessions::cookie::Key;
use tower_sessions::session::{Id, Record};
use tower_sessions::{ExpiredDeletion, SessionStore, session_store};
use tower_sessions_sqlx_store::{PostgresStore, SqlxStoreError};

use super::{OpenError, encode};
use crate::config::without_password;

/// Connections each instance keeps to PostgreSQL, which, unlike SQLite, writes from many
/// connections at once. The instances share the server's connection limit (100 by
/// default): ten instances of ten connections use it all, so stay modest.
const POOL_SIZE: u32 = 10;

/// How long a request waits for a free connection before it fails with the "session
/// store failed" page rather than hanging. At start-up it is also how long the server
/// tries to reach PostgreSQL before it gives up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to the PostgreSQL server at `database_url`, creates the session tables if
/// missing, and so fails now, at start-up, when the server cannot be reached or the
/// user may not create them.
pub async fn open(database_url: &str) -> Result<PgStore, OpenError> {
    // The error names the database, but never its password.
    let fail = |source| OpenError {
        url: without_password(database_url),
        source,
    };

    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(database_url)
        .await
        .map_err(fail)?;

    // Creates the schema `tower_sessions` and its table `session`. Several instances
    // started at once all run this; the crate makes the losers of that race wait for
    // the winner and then find the table made.
    let sessions = PostgresStore::new(pool.clone());
    sessions.migrate().await.map_err(fail)?;
    let create = sqlx::query(
        "CREATE TABLE IF NOT EXISTS tower_sessions.session_secret \
         (id INTEGER PRIMARY KEY CHECK (id = 1), key BYTEA NOT NULL)",
    )
    .execute(&pool)
    .await;
    match create {
        // `IF NOT EXISTS` does not cover two instances creating the table at the same
        // moment: PostgreSQL checks for the table, then adds it to its catalogue, and
        // the second one to get there hits the first one's entry. The table is made.
        Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {}
        other => {
            other.map_err(fail)?;
        }
    }

    Ok(PgStore { sessions, pool })
}

/// The session store on PostgreSQL, with the same two rules as [`Store`](super::Store).
///
/// There is no memory cache in front of it, and with several instances that matters
/// twice: a logout through one instance must end the session on all of them at once,
/// and another instance's cache would still hold it. Every request reads the database.
#[derive(Clone, Debug)]
pub struct PgStore {
    /// The crate's store, for what it does right already: load, delete, clean up.
    sessions: PostgresStore,
    /// The same database, for the two writes done here and for the cookie key.
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

/// Every instance runs the clean-up; the deletes of expired rows simply overlap.
#[async_trait]
impl ExpiredDeletion for PgStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.sessions.delete_expired().await
    }
}

impl PgStore {
    /// The cookie-signing key kept in the database, made on first use: the one key every
    /// instance without a `SESSION_SECRET` signs with, so that a cookie set by one
    /// instance verifies on the others.
    pub async fn stored_key(&self) -> Result<Key, sqlx::Error> {
        if let Some(key) = self.read_key().await? {
            return Ok(key);
        }
        let fresh = Key::try_generate().ok_or_else(|| {
            sqlx::Error::Protocol("the operating system gave no randomness for a key".into())
        })?;
        // Instances started together all get here with keys of their own. The first
        // insert wins, the others' do nothing, and all read back the winner's key.
        sqlx::query(
            "INSERT INTO tower_sessions.session_secret (id, key) VALUES (1, $1) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(fresh.master())
        .execute(&self.pool)
        .await?;
        self.read_key().await?.ok_or(sqlx::Error::RowNotFound)
    }

    async fn read_key(&self) -> Result<Option<Key>, sqlx::Error> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT key FROM tower_sessions.session_secret WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(bytes,)| Key::try_from(bytes.as_slice()).ok()))
    }
}
