//! A session store a test can break: the one test double every step and add-on uses.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tower_sessions::session::{Id, Record};
use tower_sessions::{MemoryStore, SessionStore, session_store};

/// One of the four things tower-sessions asks of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Save,
    Load,
    Delete,
}

impl Operation {
    pub const ALL: &[Operation] = &[
        Operation::Create,
        Operation::Save,
        Operation::Load,
        Operation::Delete,
    ];
}

/// What an operation does when it is called.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Mode {
    /// Passes the call to the real store.
    #[default]
    Work,
    /// Returns an error, as a database that is down does.
    Fail,
    /// Never answers, as a database that hangs does.
    Hang,
}

#[derive(Debug, Default)]
struct Rules {
    modes: [Mode; 4],
    /// Operations whose next call waits for the test: at most one per operation.
    holds: Vec<(Operation, Hold)>,
    /// The sessions created or saved through this store and not deleted, for
    /// [`TestStore::pass_time`].
    ids: HashSet<Id>,
    /// The data fields that hold a moment as Unix seconds, moved by `pass_time` too.
    timestamps: Vec<&'static str>,
}

/// A session store that does what `inner` does (by default a `MemoryStore`), unless the
/// test says otherwise: [`fail`](Self::fail), [`hang`](Self::hang) or
/// [`hold_next`](Self::hold_next) an operation. Clones share their rules and their
/// sessions, so the test keeps one clone and gives another to the app.
#[derive(Clone, Debug)]
pub struct TestStore<S = MemoryStore> {
    inner: S,
    rules: Arc<Mutex<Rules>>,
}

/// A test store on a fresh `MemoryStore`.
impl Default for TestStore<MemoryStore> {
    fn default() -> Self {
        Self::new(MemoryStore::default())
    }
}

/// An operation held back by [`TestStore::hold_next`], for the test to let go.
#[derive(Clone, Debug, Default)]
pub struct Hold {
    reached: Arc<Notify>,
    release: Arc<Notify>,
}

impl Hold {
    /// Waits until the held operation has been called (at once if it already was).
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the held operation go on.
    pub fn release(&self) {
        self.release.notify_one();
    }
}

impl<S> TestStore<S> {
    /// A store that works as `inner` does until told otherwise.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            rules: Arc::default(),
        }
    }

    /// Names the data fields that hold a moment as Unix seconds (step 5's `started_at`,
    /// where its absolute timeout counts from), for [`pass_time`](Self::pass_time).
    pub fn with_timestamps(self, fields: &[&'static str]) -> Self {
        self.rules.lock().expect("rules lock").timestamps = fields.to_vec();
        self
    }

    /// From now on, `operations` fail with an error, as when the database is down.
    pub fn fail(&self, operations: &[Operation]) {
        self.set(operations, Mode::Fail);
    }

    /// From now on, `operations` never answer, as when the database hangs.
    pub fn hang(&self, operations: &[Operation]) {
        self.set(operations, Mode::Hang);
    }

    /// Every operation works again.
    pub fn recover(&self) {
        self.set(Operation::ALL, Mode::Work);
    }

    /// The next call of `operation` waits until the test calls [`Hold::release`]: a
    /// request caught in the middle, to see what another request does meanwhile.
    pub fn hold_next(&self, operation: Operation) -> Hold {
        let hold = Hold::default();
        let mut rules = self.rules.lock().expect("rules lock");
        rules.holds.retain(|(held, _)| *held != operation);
        rules.holds.push((operation, hold.clone()));
        hold
    }

    /// Makes `by` go by for every session in the store, in an instant: each one's expiry,
    /// and the fields named by [`with_timestamps`](Self::with_timestamps), move `by` into
    /// the past. The app and the store then judge the sessions by the real clock, as they
    /// would after waiting: a test of a timeout needs no sleep.
    pub async fn pass_time(&self, by: Duration)
    where
        S: SessionStore,
    {
        let (ids, timestamps) = {
            let rules = self.rules.lock().expect("rules lock");
            (rules.ids.clone(), rules.timestamps.clone())
        };
        let by = time::Duration::try_from(by).expect("a duration a test can name");
        for id in ids {
            // A session that has already expired is not loaded: nothing to move.
            let Some(mut record) = self.inner.load(&id).await.expect("the store loads") else {
                continue;
            };
            record.expiry_date -= by;
            for field in &timestamps {
                if let Some(value) = record.data.get_mut(*field)
                    && let Some(seconds) = value.as_i64()
                {
                    *value = (seconds - by.whole_seconds()).into();
                }
            }
            self.inner.save(&record).await.expect("the store saves");
        }
    }

    fn set(&self, operations: &[Operation], mode: Mode) {
        let mut rules = self.rules.lock().expect("rules lock");
        for &operation in operations {
            rules.modes[operation as usize] = mode;
        }
    }

    fn remember(&self, id: Id) {
        self.rules.lock().expect("rules lock").ids.insert(id);
    }

    /// Applies the test's rules to one call of `operation`: holds it, fails it or hangs it.
    async fn gate(&self, operation: Operation) -> session_store::Result<()> {
        let (mode, hold) = {
            let mut rules = self.rules.lock().expect("rules lock");
            let held = rules.holds.iter().position(|(held, _)| *held == operation);
            let hold = held.map(|at| rules.holds.remove(at).1);
            (rules.modes[operation as usize], hold)
        };
        if let Some(hold) = hold {
            hold.reached.notify_one();
            hold.release.notified().await;
        }
        match mode {
            Mode::Work => Ok(()),
            Mode::Fail => Err(session_store::Error::Backend(format!(
                "the test made {operation:?} fail"
            ))),
            Mode::Hang => std::future::pending().await,
        }
    }
}

#[async_trait::async_trait]
impl<S: SessionStore + Clone> SessionStore for TestStore<S> {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.gate(Operation::Create).await?;
        self.inner.create(record).await?;
        self.remember(record.id);
        Ok(())
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.gate(Operation::Save).await?;
        self.inner.save(record).await?;
        self.remember(record.id);
        Ok(())
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.gate(Operation::Load).await?;
        self.inner.load(id).await
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.gate(Operation::Delete).await?;
        self.inner.delete(id).await?;
        self.rules.lock().expect("rules lock").ids.remove(id);
        Ok(())
    }
}
