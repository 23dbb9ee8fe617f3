//! Writes from concurrent callers share requests (spec §4: many functions
//! per request). Intacct allows two requests at a time per company, so the
//! throughput of one-write requests is two writes per round trip; sharing
//! a request lifts it to two *batches* per round trip.
//!
//! There is no background task: each caller queues its function and then
//! either receives its outcome, or takes one of the two sending slots and
//! sends what is queued (up to the batch size) for everyone in it. Each
//! function keeps its own control id and gets its own outcome: one refused
//! record fails alone, its neighbours succeed.

use std::collections::VecDeque;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Semaphore, oneshot};

use super::functions::{ApiFunction, Done};
use crate::connectors::{ConnectorError, System};

type Reply = oneshot::Sender<Result<Done, ConnectorError>>;

/// Writes waiting for a request, and the slots that send them.
pub(crate) struct Coalescer {
    waiting: Mutex<VecDeque<(ApiFunction, Reply)>>,
    senders: Semaphore,
    /// Functions per request at most.
    pub(crate) max: usize,
    /// How long a sender waits for others to join a batch that is not full.
    linger: Duration,
}

impl Coalescer {
    /// `max` functions per request, `concurrent` requests at once.
    pub(crate) fn new(max: usize, concurrent: usize) -> Self {
        Self {
            waiting: Mutex::new(VecDeque::new()),
            senders: Semaphore::new(concurrent.max(1)),
            max: max.max(1),
            linger: Duration::from_millis(2),
        }
    }

    /// Runs `function` in a shared request sent by `send`, and gives its
    /// own outcome.
    pub(crate) async fn run<F, Fut>(
        &self,
        function: ApiFunction,
        send: F,
    ) -> Result<Done, ConnectorError>
    where
        F: Fn(Vec<ApiFunction>) -> Fut,
        Fut: Future<Output = Result<Vec<Result<Done, ConnectorError>>, ConnectorError>>,
    {
        let (reply, mut outcome) = oneshot::channel();
        self.waiting.lock().push_back((function, reply));
        // The sender was cancelled mid-request: the outcome is unknown, and
        // a retry (same control id) resolves it.
        let lost = |_| {
            Err(ConnectorError::Connect {
                system: System::Intacct,
                message: "the request carrying this write was cancelled".into(),
            })
        };
        loop {
            let permit = tokio::select! {
                biased;
                done = &mut outcome => return done.unwrap_or_else(lost),
                permit = self.senders.acquire() => permit,
            };
            let Ok(_permit) = permit else {
                return outcome.await.unwrap_or_else(lost);
            };
            if self.waiting.lock().len() < self.max {
                tokio::time::sleep(self.linger).await;
            }
            let batch: Vec<(ApiFunction, Reply)> = {
                let mut waiting = self.waiting.lock();
                let n = waiting.len().min(self.max);
                waiting.drain(..n).collect()
            };
            if batch.is_empty() {
                // Another sender took ours; its outcome is on its way.
                return outcome.await.unwrap_or_else(lost);
            }
            let (functions, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            match send(functions).await {
                Ok(outcomes) => {
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(outcome);
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn function(id: &str) -> ApiFunction {
        let mut record = serde_json::Map::new();
        record.insert("CUSTOMERID".into(), id.into());
        ApiFunction::create(id, super::super::Object::Customer, &record)
    }

    #[tokio::test]
    async fn concurrent_writes_share_requests_and_each_gets_its_own_outcome() {
        let coalescer = Arc::new(Coalescer::new(50, 2));
        let requests = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..120 {
            let (c, requests) = (coalescer.clone(), requests.clone());
            tasks.push(tokio::spawn(async move {
                let id = format!("w-{i}");
                c.run(function(&id), |fs: Vec<ApiFunction>| {
                    let requests = requests.clone();
                    async move {
                        requests.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(fs
                            .iter()
                            .map(|f| {
                                if f.controlid == "w-7" {
                                    Err(ConnectorError::Validation {
                                        system: System::Intacct,
                                        field: None,
                                        message: "bad record".into(),
                                    })
                                } else {
                                    Ok(Done {
                                        controlid: f.controlid.clone(),
                                        key: Some(f.controlid.clone()),
                                        data: None,
                                        already_processed: false,
                                    })
                                }
                            })
                            .collect())
                    }
                })
                .await
                .map(|d| d.key)
            }));
        }
        let mut ok = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap() {
                Ok(key) => {
                    assert_eq!(key, Some(format!("w-{i}")), "each gets its own");
                    ok += 1;
                }
                Err(_) => assert_eq!(i, 7, "only the bad record fails"),
            }
        }
        assert_eq!(ok, 119);
        let n = requests.load(Ordering::SeqCst);
        assert!((3..=20).contains(&n), "120 writes in {n} requests");
    }
}
