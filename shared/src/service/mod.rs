//! Use cases: what the HTTP API (and the CLI) asks of a deployment, decided here once for
//! every backend, so the router only translates HTTP.
//!
//! - [`deploy`]: deploy a workflow (parse, check against what is deployed, number the
//!   version, store it, enroll existing contacts) and the definitions (with the check
//!   that no deployed workflow loses a segment or template it names).
//! - [`accept`]: hand inputs to the engine exactly once per client-given id.
//! - [`contacts`]: a contact as a change will leave it, through the engine itself.
//! - [`experiments`]: experiment winners, decided once when they are due.
//! - [`feedback`]: provider feedback the journal alone needs, journaled without the engine.
//! - [`audiences`]: a segment's members, paged, and hashed for ad platforms.
//! - [`broadcasts`]: business events fire broadcast runs; runs fan out a page at a time;
//!   pause, resume, cancel; each run's counts.
//!
//! A backend is a [`Ports`]: its contact store, catalog store and work queue.

pub mod accept;
pub mod audiences;
pub mod broadcasts;
pub mod contacts;
pub mod deploy;
pub mod experiments;
pub mod feedback;

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::engine::Input;
use crate::ports::{CatalogStore, ContactStore, PortError, WorkItem, WorkQueue};

/// The ports of one deployment that the use cases need: AWS (DynamoDB + SQS), the
/// embedded store of `kairos serve`, or memory (tests).
pub trait Ports: Send + Sync + 'static {
    type Contacts: ContactStore;
    type Catalog: CatalogStore;
    type Work: WorkQueue;

    fn contacts(&self) -> &Self::Contacts;
    fn catalog(&self) -> &Self::Catalog;
    fn work(&self) -> &Self::Work;

    /// Queues `EnrollExisting` for every stored contact. This default walks the contact
    /// ids at once; a backend with many contacts pages through them instead (AWS: a
    /// fan-out the sweep works through a bounded page at a time).
    fn enroll_existing(
        &self,
        workflow: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        async move {
            for contact in self.contacts().contact_ids().await? {
                let input = Input::EnrollExisting {
                    workflow: workflow.to_string(),
                };
                self.work().push(WorkItem { contact, input, at }).await?;
            }
            Ok(())
        }
    }
}

/// A shared backend (`kairos serve` hands one to the router and its pipeline loop).
impl<P: Ports> Ports for std::sync::Arc<P> {
    type Contacts = P::Contacts;
    type Catalog = P::Catalog;
    type Work = P::Work;

    fn contacts(&self) -> &P::Contacts {
        (**self).contacts()
    }

    fn catalog(&self) -> &P::Catalog {
        (**self).catalog()
    }

    fn work(&self) -> &P::Work {
        (**self).work()
    }

    fn enroll_existing(
        &self,
        workflow: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).enroll_existing(workflow, at)
    }
}
