//! The in-process driver (the simulator, `kairos serve`): both roles over a work queue, a
//! dispatch queue and the timers, advanced to a moment in order.

use chrono::{DateTime, Utc};

use super::{Dispatcher, Evaluator};
use crate::catalog::Catalog;
use crate::engine::Input;
use crate::model::contact::{Contact, ContactState};
use crate::model::journal::JournalEntry;
use crate::ports::{
    ContactStore, DispatchJob, DispatchQueue, Mailer, PortError, TimerQueue, WebhookSender,
    WorkItem, WorkQueue,
};

pub struct Pipeline<S, T, Q, D, M, W> {
    pub catalog: Catalog,
    /// Unsubscribe links for marketing email; without them no `List-Unsubscribe` header.
    pub links: Option<crate::unsubscribe::Links>,
    pub store: S,
    pub timers: T,
    pub work: Q,
    pub dispatch: D,
    pub mailer: M,
    pub webhooks: W,
}

impl<S, T, Q, D, M, W> Pipeline<S, T, Q, D, M, W>
where
    S: ContactStore,
    T: TimerQueue,
    Q: WorkQueue,
    D: DispatchQueue,
    M: Mailer,
    W: WebhookSender,
{
    pub fn submit(
        &self,
        item: WorkItem,
    ) -> impl std::future::Future<Output = Result<(), PortError>> + Send + '_ {
        self.work.push(item)
    }

    /// Creates or updates a contact as it exists before anything happens to it.
    pub async fn put_contact(&self, contact: Contact) -> Result<(), PortError> {
        let mut state = match self.store.load(&contact.id).await? {
            Some(mut state) => {
                state.contact = Contact {
                    created_at: state.contact.created_at,
                    ..contact
                };
                state
            }
            None => ContactState::new(contact),
        };
        self.store.save(&mut state).await
    }

    /// Processes queued work and due dispatch jobs until none is left (in-process drivers);
    /// the journal made, in order.
    pub async fn drain(&self, now: DateTime<Utc>) -> Result<Vec<JournalEntry>, PortError> {
        let mut journal = Vec::new();
        self.drain_into(now, &mut |entry| journal.push(entry))
            .await?;
        Ok(journal)
    }

    /// [`Pipeline::drain`], handing each journal entry to `sink` as it is made: a moment
    /// when a million contacts act is never held in memory at once.
    pub async fn drain_into(
        &self,
        now: DateTime<Utc>,
        sink: &mut dyn FnMut(JournalEntry),
    ) -> Result<(), PortError> {
        loop {
            let entries = if let Some(item) = self.work.pop().await? {
                self.handle(item).await?
            } else if let Some(job) = self.dispatch.pop_due(now).await? {
                self.run_job(job, now).await?
            } else {
                return Ok(());
            };
            entries.into_iter().for_each(&mut *sink);
        }
    }

    /// Moves time to `now` in order: each due timer becomes work, each held-back job runs,
    /// at its own time; the journal made, in order.
    pub async fn advance_to(&self, now: DateTime<Utc>) -> Result<Vec<JournalEntry>, PortError> {
        let mut journal = Vec::new();
        self.advance_to_into(now, &mut |entry| journal.push(entry))
            .await?;
        Ok(journal)
    }

    /// [`Pipeline::advance_to`], handing each journal entry to `sink` as it is made.
    pub async fn advance_to_into(
        &self,
        now: DateTime<Utc>,
        sink: &mut dyn FnMut(JournalEntry),
    ) -> Result<(), PortError> {
        while let Some(t) = self.next_due().await?.filter(|t| *t <= now) {
            if self.timers.next_due().await? == Some(t) {
                for timer in self.timers.take_due(t).await? {
                    let (contact, at) = (timer.contact.clone(), timer.due);
                    self.work
                        .push(WorkItem {
                            contact,
                            input: Input::Timer(timer),
                            at,
                        })
                        .await?;
                }
            }
            self.drain_into(t, sink).await?;
        }
        Ok(())
    }

    /// When the next timer or held-back job is due.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, PortError> {
        let (timer, held) = (
            self.timers.next_due().await?,
            self.dispatch.next_held().await?,
        );
        Ok(timer.into_iter().chain(held).min())
    }

    /// The evaluate role on this pipeline's ports.
    pub fn evaluator(&self) -> Evaluator<'_, S, T, D, Q> {
        Evaluator {
            catalog: &self.catalog,
            store: &self.store,
            timers: &self.timers,
            dispatch: &self.dispatch,
            work: &self.work,
            recent: None,
        }
    }

    /// The dispatch role on this pipeline's ports.
    pub fn dispatcher(&self) -> Dispatcher<'_, S, Q, D, M, W> {
        Dispatcher {
            catalog: &self.catalog,
            links: self.links.as_ref(),
            store: &self.store,
            work: &self.work,
            dispatch: &self.dispatch,
            mailer: &self.mailer,
            webhooks: &self.webhooks,
        }
    }

    /// One work item (see [`Evaluator::handle`]).
    pub async fn handle(&self, item: WorkItem) -> Result<Vec<JournalEntry>, PortError> {
        self.evaluator().handle(item).await
    }

    /// One dispatch job (see [`Dispatcher::run_job`]); in process, a held job is simply
    /// back in the dispatch queue.
    pub async fn run_job(
        &self,
        job: DispatchJob,
        now: DateTime<Utc>,
    ) -> Result<Vec<JournalEntry>, PortError> {
        Ok(self.dispatcher().run_job(job, now).await?.0)
    }
}
