//! Several instances of step 5's app, as behind a load balancer, sharing their sessions.
//!
//! Step 5 keeps its sessions in a SQLite file, which only the processes of one machine can
//! open. Instances on several machines need a store they all reach over the network:
//! [`PgStore`] keeps them in PostgreSQL, with the rules of step 5's store (a save never
//! brings a deleted session back, a new session never replaces another). Every instance
//! signs with the same key, `SESSION_SECRET` from its environment. `main` passes the store
//! to step 5's `app()` when `DATABASE_URL` names a PostgreSQL server; the app itself does
//! not change.

mod postgres;

pub use postgres::{PgStore, open};

use url::Url;

/// The query parameters of a PostgreSQL URL that hold nothing secret, shown as they are.
/// Every other one is masked: `password`, and any parameter that sqlx, or a later version
/// of it, may read and we do not know about. Names are compared once decoded, as sqlx
/// reads them: `pass%77ord=` is a password too.
const HARMLESS_PARAMETERS: [&str; 6] = ["host", "hostaddr", "port", "dbname", "user", "sslmode"];

/// `database_url` as an error message or a log may show it: every password replaced by
/// `***`, in both places a PostgreSQL URL can carry one (`postgres://app:PASSWORD@host/db`
/// and `?password=PASSWORD`), and the values of parameters not known to be harmless too.
/// A URL that cannot be parsed is not shown at all: where its password is cannot be told.
pub fn without_password(database_url: &str) -> String {
    let Ok(mut url) = Url::parse(database_url) else {
        return "(not shown: it is not a valid URL)".to_string();
    };
    if url.password().is_some() {
        // Only fails for URLs that cannot have a user, which have no password either.
        let _ = url.set_password(Some("***"));
    }
    if url.query().is_some() {
        let shown: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if HARMLESS_PARAMETERS.contains(&name.as_ref()) {
                    value.into_owned()
                } else {
                    "***".to_string()
                };
                (name.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(shown);
    }
    url.set_fragment(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::without_password;

    // `tests/instances.rs` checks the start-up error for the usual forms; these are the rarer ones.
    #[test]
    fn unknown_parameters_and_fragments_are_masked_and_a_broken_url_is_not_shown() {
        assert_eq!(
            without_password(
                "postgres://:hunter2@db.internal/sessions?sslmode=require&options=-c%20x%3Dhunter2#hunter2"
            ),
            "postgres://:***@db.internal/sessions?sslmode=require&options=***"
        );
        let broken = without_password("postgres://app:hunter 2@db internal/sessions");
        assert!(!broken.contains("hunter"), "{broken}");
    }
}
