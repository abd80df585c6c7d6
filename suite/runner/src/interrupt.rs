//! Stopping a run from outside (`SIGINT`, `SIGTERM`) with complete reports.

use tokio::sync::watch;

/// Stops a run from outside (a `SIGINT` or `SIGTERM`): it starts no more cases, abandons the
/// running ones, reports every unfinished case as `not run: interrupted` and ends with the
/// complete reports ([`Summary::interrupted`]).
#[derive(Debug, Clone)]
pub struct Interrupt(watch::Receiver<Option<String>>);

/// The sending side of an [`Interrupt`].
#[derive(Debug)]
pub struct Interrupter(watch::Sender<Option<String>>);

impl Interrupt {
    /// A new interrupt and the handle that fires it.
    pub fn channel() -> (Interrupter, Interrupt) {
        let (tx, rx) = watch::channel(None);
        (Interrupter(tx), Interrupt(rx))
    }
}

impl Interrupter {
    /// Interrupts the run; `why` is what the reports say (`SIGTERM`).
    pub fn interrupt(&self, why: &str) {
        self.0.send_replace(Some(why.to_owned()));
    }
}

/// Resolves with the reason once `interrupt` fires; never without one.
pub(crate) async fn interrupted(interrupt: &mut Option<Interrupt>) -> String {
    if let Some(Interrupt(rx)) = interrupt {
        if let Ok(why) = rx.wait_for(Option::is_some).await {
            return why.clone().unwrap_or_default();
        }
    }
    std::future::pending().await
}
