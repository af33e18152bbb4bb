//! The memory cache in front of the session table, and the rule that keeps it honest.
//!
//! A session found in memory costs no trip to SQLite: a visitor who comes back (the
//! dashboard again, a second tab) is answered without touching the database. The danger
//! of any cache is a stale copy, and for sessions a stale copy is a security bug: a
//! logged-out session that lives on in memory is still logged in. So the cache keeps one
//! rule: **it never holds a session the table no longer has, nor an older state of it.**
//!
//! What goes in and out:
//!
//! - a read that missed the cache and found the row puts it there ([`Cache::fill`]);
//! - a save, once committed and only if its `UPDATE` found the live row, puts the new
//!   state there ([`Cache::saved`]); a save that found no row takes it out;
//! - a delete (logout, a new id at login) takes it out ([`Cache::forget`]);
//! - a brand-new session is not put there: many are never read again (a visitor who
//!   looks at one page, a bot) and would push returning visitors out. Its first read does.
//!
//! The hard part is timing. A read of the table takes a moment, and a logout can happen
//! in that moment: the read gets the row, the logout deletes the row and empties the
//! cache, and then the read puts the row it got into the cache, where the logged-out
//! session would live until it expires. A save has the same window between its commit and
//! its cache update. The cure is counting changes: a read or a save takes the count
//! *before* it goes to the table ([`Cache::change_count`]), and may put what it got into
//! the cache only if nothing it must fear happened since, checked under the lock that a
//! delete takes for its bump and its removal. A **read** fears any change (a delete, or a
//! save that made its copy old); a **save** fears only deletes, since saves reach the cache
//! one at a time in the order the table took them (see [`Cache::saved`]). The count is
//! one for the whole cache: a logout refuses the fills and saves in flight of every
//! session, rarely more than a few, and the rule stays easy to check.
//!
//! The cache is right only because one process owns the database file: every delete and
//! every save goes through this process, so the cache hears of each. Several servers on
//! one database could not share it: a logout on one server would leave the session alive
//! in the others' memory. So [`crate::CachedStore::open`] refuses a database that another
//! server has open.

use std::sync::{Arc, RwLock};

use tokio::sync::Mutex;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions_moka_store::MokaStore;

/// Sessions held in memory, with the change count that decides when a copy read from
/// the table may be kept. Clones share one cache.
#[derive(Clone, Debug)]
pub struct Cache {
    /// tower-sessions-moka-store: a bounded map that drops the least used entries when
    /// full, and each session when its expiry date passes. Its methods never fail. In a
    /// lock only so that [`forget_all`](Self::forget_all) can swap in an empty one.
    sessions: Arc<RwLock<MokaStore>>,
    capacity: u64,
    /// How many changes the cache has been told of. Changed only while locked, and every
    /// insert of a copy read before is decided under the same lock.
    count: Arc<Mutex<ChangeCount>>,
}

/// How many deletes, and how many changes of any kind, the cache had been told of when a
/// read or write of the table began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use = "a copy read from the table may only be cached with the count taken before reading"]
pub struct ChangeCount {
    deletes: u64,
    changes: u64,
}

impl Cache {
    /// An empty cache that holds at most `capacity` sessions.
    pub fn new(capacity: u64) -> Self {
        Self {
            sessions: Arc::new(RwLock::new(MokaStore::new(Some(capacity)))),
            capacity,
            count: Arc::new(Mutex::new(ChangeCount::default())),
        }
    }

    /// The map as it is now (a clone shares its entries).
    fn sessions(&self) -> MokaStore {
        // A poisoned lock means a thread panicked while swapping the map: the new one, or
        // the old one, is a valid map either way.
        match self.sessions.read() {
            Ok(sessions) => sessions.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The session `id` if memory has it and it has not expired.
    pub async fn get(&self, id: &Id) -> Option<Record> {
        self.sessions().load(id).await.ok().flatten()
    }

    /// The change count now. Take it *before* reading or writing the table, and hand it
    /// to [`fill`](Self::fill) or [`saved`](Self::saved) afterwards.
    pub async fn change_count(&self) -> ChangeCount {
        *self.count.lock().await
    }

    /// Keeps `record`, read from the table after `before` was taken, unless something
    /// changed meanwhile: then the copy may be older than the table (a save) or of a
    /// session that is gone (a logout), and it is dropped. Returns whether it was kept.
    pub async fn fill(&self, before: ChangeCount, record: &Record) -> bool {
        let count = self.count.lock().await;
        let unchanged = *count == before;
        if unchanged {
            let _ = self.sessions().save(record).await;
        }
        unchanged
    }

    /// After saves (one, or a batch) begun at `before` and committed: `updated` found
    /// their live row and the table now holds these states; the sessions in `gone` found
    /// none (logged out or expired meanwhile). Called before anyone is told that the save
    /// worked, so their next request finds the new state in memory.
    ///
    /// The caller keeps saves in order: the next save's `UPDATE` may only begin once
    /// this call has returned, so the cache learns each session's states in the order the
    /// table took them. If a delete came between `before` and now, it may have come after
    /// an `UPDATE` that found its row: the updated sessions are then dropped instead of
    /// kept. Either way the count moves, so a read that began before these saves cannot
    /// put an older copy back.
    pub async fn saved(&self, before: ChangeCount, updated: &[&Record], gone: &[Id]) {
        let mut count = self.count.lock().await;
        let unchanged = count.deletes == before.deletes;
        let sessions = self.sessions();
        for record in updated {
            if unchanged {
                let _ = sessions.save(record).await;
            } else {
                let _ = sessions.delete(&record.id).await;
            }
        }
        for id in gone {
            let _ = sessions.delete(id).await;
        }
        count.changes += 1;
    }

    /// Drops the sessions `ids` (a delete, or a write whose outcome is unknown) and
    /// refuses every fill and save begun before. Call it *after* the table's delete, so
    /// that a read starting after this call cannot find the row any more.
    pub async fn forget(&self, ids: &[Id]) {
        let mut count = self.count.lock().await;
        let sessions = self.sessions();
        for id in ids {
            let _ = sessions.delete(id).await;
        }
        count.deletes += 1;
        count.changes += 1;
    }

    /// Drops every session, for when a writer stopped in the middle of its writes: which
    /// of them reached the table is not known, so no copy in memory can be trusted.
    pub async fn forget_all(&self) {
        let mut count = self.count.lock().await;
        let empty = MokaStore::new(Some(self.capacity));
        match self.sessions.write() {
            Ok(mut sessions) => *sessions = empty,
            Err(poisoned) => *poisoned.into_inner() = empty,
        }
        count.deletes += 1;
        count.changes += 1;
    }
}
