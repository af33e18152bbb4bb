//! Checking a password against its argon2id hash, with the memory that takes set aside
//! once.
//!
//! argon2id is slow and memory-hard on purpose: each check fills 19 MiB (OWASP's
//! minimum) in tens of milliseconds, so that a stolen hash costs a guesser the same for
//! every guess. The server pays it too, on every login. `Argon2::verify_password`
//! allocates those 19 MiB anew for each check and frees them after; the memory allocator
//! (glibc's on Linux) keeps freed blocks that large in per-thread pools instead of giving
//! them back, so a burst of logins leaves hundreds of MiB behind, however few checks ran at
//! once. Here each check that may run at once has its work area, allocated when the
//! server starts and reused for every check: the memory is `slots × 19 MiB` whatever
//! happens.

use std::sync::{Arc, Mutex, PoisonError};

use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// How many password checks may run at once: one per core, up to four. Each keeps a core
/// busy, so more at once would finish no sooner; further logins wait their turn, in order.
pub fn slots() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get().min(4))
}

/// One stored password hash, and the work areas to check passwords against it.
pub struct PasswordCheck {
    argon2: Argon2<'static>,
    salt: Vec<u8>,
    /// The hash of the right password: what a check must come to.
    expected: Vec<u8>,
    /// A permit per work area; a check holds one while it runs.
    permits: Arc<Semaphore>,
    /// The work areas not in use. There are as many as permits, so a check that holds a
    /// permit always finds one here.
    areas: Mutex<Vec<Vec<Block>>>,
}

impl PasswordCheck {
    /// Reads `phc` (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) and sets aside
    /// `slots` work areas of the size its settings ask for.
    pub fn new(phc: &str, slots: usize) -> Result<Self, argon2::password_hash::Error> {
        let hash = PasswordHash::new(phc)?;
        let params = Params::try_from(&hash)?;
        let algorithm = Algorithm::try_from(hash.algorithm)?;
        let version = Version::try_from(hash.version.unwrap_or(0x10))?;
        let expected = hash
            .hash
            .ok_or(argon2::password_hash::Error::PhcStringField)?;
        let mut salt = [0u8; 64];
        let salt = hash
            .salt
            .ok_or(argon2::password_hash::Error::PhcStringField)?
            .decode_b64(&mut salt)?
            .to_vec();
        let areas = (0..slots)
            .map(|_| vec![Block::default(); params.block_count()])
            .collect();
        Ok(Self {
            argon2: Argon2::new(algorithm, version, params),
            salt,
            expected: expected.as_bytes().to_vec(),
            permits: Arc::new(Semaphore::new(slots)),
            areas: Mutex::new(areas),
        })
    }

    /// Whether `password` is the one the hash was made from. The whole password is
    /// hashed, however long: nothing is cut at 72 bytes as with bcrypt (the body limit
    /// keeps "however long" reasonable).
    ///
    /// The check runs on a blocking thread, not on the threads that serve other requests,
    /// once a permit is free. The permit moves into that thread and is given back when
    /// the check ends: held by the request instead, it would come back as soon as a
    /// visitor who gave up closed the connection, while the check ran on.
    pub async fn verify(self: &Arc<Self>, password: String) -> bool {
        let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
            return false;
        };
        let check = Arc::clone(self);
        let verified = tokio::task::spawn_blocking(move || {
            let mut areas = check.areas.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(mut area) = areas.pop() else {
                return false;
            };
            drop(areas);
            let mut output = vec![0u8; check.expected.len()];
            let hashed = check.argon2.hash_password_into_with_memory(
                password.as_bytes(),
                &check.salt,
                &mut output,
                &mut area,
            );
            check
                .areas
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(area);
            drop(permit);
            // Compared in constant time, so the answer's timing tells nothing about how
            // much of the hash was right.
            hashed.is_ok() && bool::from(output.ct_eq(&check.expected))
        })
        .await;
        verified.unwrap_or_else(|err| {
            tracing::error!("password check did not finish: {err}");
            false
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_work_areas_are_set_aside_once_and_reused() {
        let check = Arc::new(PasswordCheck::new(crate::DEMO_PASSWORD_HASH, 2).expect("valid hash"));
        let area_addresses = |check: &PasswordCheck| {
            let mut addresses: Vec<usize> = check
                .areas
                .lock()
                .expect("not poisoned")
                .iter()
                .map(|area| area.as_ptr() as usize)
                .collect();
            addresses.sort_unstable();
            addresses
        };
        let before = area_addresses(&check);
        let mut guesses = tokio::task::JoinSet::new();
        for n in 0..6 {
            let check = Arc::clone(&check);
            guesses.spawn(async move { check.verify(format!("guess {n}")).await });
        }
        let results = guesses.join_all().await;
        assert_eq!(results, [false; 6]);
        assert_eq!(before.len(), 2);
        assert_eq!(
            area_addresses(&check),
            before,
            "the same two areas, back in place"
        );
    }
}
