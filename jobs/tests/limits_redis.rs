//! The Redis limiter holds across processes: two limiters with their own
//! connections (as two worker processes have) share one tenant's limits.
//! Needs Redis (CONNECT_TEST_REDIS_URL, default 127.0.0.1:6379); fails without it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use connect_jobs::limits::{Admission, Limiter, Limits, RedisLimiter};

async fn two_processes() -> (Arc<RedisLimiter>, Arc<RedisLimiter>, String) {
    let url =
        std::env::var("CONNECT_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let namespace = format!("test-limits-{}", uuid::Uuid::now_v7().simple());
    let lease = Duration::from_secs(30);
    let connect = || async {
        RedisLimiter::connect(&url, &namespace, lease)
            .await
            .unwrap_or_else(|e| panic!("Redis at {url} is required for this test: {e}"))
    };
    (
        Arc::new(connect().await),
        Arc::new(connect().await),
        "tenant:intacct".to_owned(),
    )
}

#[tokio::test]
async fn two_processes_never_exceed_the_concurrency_limit_together() {
    let (a, b, key) = two_processes().await;
    let limits = Limits {
        per_minute: None,
        concurrent: Some(2),
    };
    let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
        let (key, now, peak) = (key.clone(), now.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            let permit = match limiter
                .admit(&key, limits, Duration::from_secs(20))
                .await
                .unwrap()
            {
                Admission::Go(p) => p,
                Admission::NotBefore(d) => panic!("not admitted within 20 s ({d:?})"),
            };
            let inside = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(inside, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2, "two at a time, never more");
}

#[tokio::test]
async fn two_processes_share_one_rate() {
    let (a, b, key) = two_processes().await;
    // 600 a minute: one start every 100 ms, whichever process asks.
    let limits = Limits {
        per_minute: Some(600),
        concurrent: None,
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            match limiter
                .admit(&key, limits, Duration::from_secs(5))
                .await
                .unwrap()
            {
                Admission::Go(_) => started.elapsed(),
                Admission::NotBefore(d) => panic!("not admitted ({d:?})"),
            }
        }));
    }
    let mut starts = Vec::new();
    for t in tasks {
        starts.push(t.await.unwrap());
    }
    starts.sort();
    // Ten starts spaced 100 ms apart take at least 900 ms, however they were asked.
    assert!(starts[9] >= Duration::from_millis(850), "{starts:?}");
    for w in starts.windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(60),
            "too close: {starts:?}"
        );
    }
    // Right after an admitted call the next one must wait; refused asks reserve
    // nothing, so asking again does not push the wait further out.
    let _ = a.admit(&key, limits, Duration::from_secs(1)).await.unwrap();
    let first = match b.admit(&key, limits, Duration::ZERO).await.unwrap() {
        Admission::NotBefore(d) => d,
        Admission::Go(_) => panic!("admitted without waiting"),
    };
    let second = match a.admit(&key, limits, Duration::ZERO).await.unwrap() {
        Admission::NotBefore(d) => d,
        Admission::Go(_) => panic!("admitted without waiting"),
    };
    assert!(first > Duration::from_millis(50), "{first:?}");
    assert!(
        second <= first,
        "a refusal reserved a slot: {first:?} then {second:?}"
    );
}
