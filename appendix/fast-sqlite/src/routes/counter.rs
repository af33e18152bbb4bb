//! The visit counter: the Express tutorial's `app.get('/', ...)`.

use askama::Template;
use askama_web::WebTemplate;
use tower_sessions::Session;

use crate::error::AppError;
use crate::session_data::{SessionPanel, VIEWS};

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
pub struct IndexPage {
    views: u64,
    panel: SessionPanel,
}

/// `GET /`: counts this browser's visits in its session.
///
/// The `Session` extractor is `req.session`. Its data is loaded from the store the first
/// time the handler reads it, using the id from the request's cookie; a browser without a
/// cookie (or with an id the store does not know) gets a fresh, empty session.
pub async fn index(session: Session) -> Result<IndexPage, AppError> {
    let views = session
        .get::<u64>(VIEWS)
        .await?
        .unwrap_or(0)
        .saturating_add(1);
    // Changing the session marks it modified; after the response is built the session
    // layer saves it and sends the `Set-Cookie` header that carries its id.
    session.insert(VIEWS, views).await?;

    Ok(IndexPage {
        views,
        panel: SessionPanel::read(&session).await?,
    })
}
