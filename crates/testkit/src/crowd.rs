//! Crowds: many requests on their way at the same instant, the way a flash sale's buyers arrive.

use futures_util::future::join_all;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Barrier;

/// Runs `n` tasks that each wait at one barrier and then run the future `make(i)` built for them, so
/// that every request is on its way at the same moment; answers come back in task order.
pub async fn all_at_once<F, Fut, T>(n: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let work = make(i);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("a request task does not panic"))
        .collect()
}
