//! The one application state handed to every handler.

use std::sync::Arc;

use crate::config::Config;
use crate::engine::Engine;
use crate::store::Store;
use crate::web::billing::limit::PageLimit;
use crate::web::sign_in::SignIn;
use crate::webhooks::group_commit::Committer;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub committer: Committer,
    pub engine: Engine,
    /// Per-client rate limit of the billing pages.
    pub page_limit: PageLimit,
    /// The operator's sign-ins: session secret and wrong-token throttle.
    pub sign_in: SignIn,
}
