//! The rate limiter: burst exactness, header values and the penalty box, on a driven clock, for
//! the in-process (governor) limiter and the Redis script alike.

use std::sync::Arc;
use std::time::Duration;

use flashgate_core::{Clock, ManualClock};
use flashgate_shared_state::{
    InProcessLimiter, Penalty, Policy, RateDecision, RateLimiter, RedisLimiter, SharedStateError,
    Verdict,
};

use crate::common::TestRedis;

const START_MS: i64 = 1_750_000_000_000;

fn policies() -> Vec<Policy> {
    vec![
        Policy::new("reads", 10, Duration::from_secs(1)),
        Policy::new("purchases", 2, Duration::from_secs(1)).with_burst(5),
        Policy::new("callbacks", 1, Duration::from_secs(1)).with_penalty(Penalty {
            strikes: 2,
            window: Duration::from_secs(10),
            ban: Duration::from_secs(60),
        }),
    ]
}

async fn verdicts(l: &dyn RateLimiter, policy: &str, key: &str, n: usize) -> Vec<Verdict> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(l.check(policy, key).await.unwrap().verdict);
    }
    out
}

async fn exactly_burst_requests_pass_at_once_then_one_per_interval(
    l: Arc<dyn RateLimiter>,
    clock: ManualClock,
) {
    for expected in (0..10).rev() {
        let d = l.check("reads", "ip1").await.unwrap();
        assert_eq!(d.verdict, Verdict::Allowed);
        assert_eq!(d.remaining, expected);
    }
    let denied = l.check("reads", "ip1").await.unwrap();
    assert_eq!(denied.verdict, Verdict::Limited);
    assert_eq!(denied.retry_after, Some(Duration::from_millis(100)));
    clock.advance(time::Duration::milliseconds(99));
    assert_eq!(
        l.check("reads", "ip1").await.unwrap().verdict,
        Verdict::Limited
    );
    clock.advance(time::Duration::milliseconds(1));
    let d = l.check("reads", "ip1").await.unwrap();
    assert_eq!((d.verdict, d.remaining), (Verdict::Allowed, 0));
    assert_eq!(
        l.check("reads", "ip1").await.unwrap().verdict,
        Verdict::Limited
    );
}

async fn a_burst_larger_than_the_rate_is_honoured(l: Arc<dyn RateLimiter>, clock: ManualClock) {
    let mut v = verdicts(&*l, "purchases", "cust", 6).await;
    assert_eq!(v.pop(), Some(Verdict::Limited));
    assert!(v.iter().all(|v| *v == Verdict::Allowed));
    clock.advance(time::Duration::milliseconds(500));
    assert_eq!(
        verdicts(&*l, "purchases", "cust", 2).await,
        [Verdict::Allowed, Verdict::Limited]
    );
    // Rested long enough, the full burst is back and no more.
    clock.advance(time::Duration::seconds(60));
    let v = verdicts(&*l, "purchases", "cust", 6).await;
    assert_eq!(v.iter().filter(|v| **v == Verdict::Allowed).count(), 5);
}

async fn keys_and_policies_are_counted_apart(l: Arc<dyn RateLimiter>, _clock: ManualClock) {
    assert_eq!(
        verdicts(&*l, "purchases", "a", 6).await.last(),
        Some(&Verdict::Limited)
    );
    assert_eq!(
        l.check("purchases", "b").await.unwrap().verdict,
        Verdict::Allowed
    );
    assert_eq!(
        l.check("reads", "a").await.unwrap().verdict,
        Verdict::Allowed
    );
    assert!(matches!(
        l.check("nope", "a").await,
        Err(SharedStateError::UnknownPolicy(_))
    ));
}

async fn decisions_carry_the_rate_limit_headers(l: Arc<dyn RateLimiter>, clock: ManualClock) {
    let first = l.check("reads", "h").await.unwrap();
    assert_eq!(first.reset_after, Duration::from_millis(100));
    assert_eq!(
        first.headers(),
        [
            ("RateLimit-Policy", "\"reads\";q=10;w=1".to_owned()),
            ("RateLimit", "\"reads\";r=9;t=1".to_owned()),
        ]
    );
    verdicts(&*l, "reads", "h", 9).await;
    let denied = l.check("reads", "h").await.unwrap();
    assert_eq!(denied.reset_after, Duration::from_millis(1000));
    assert_eq!(
        denied.headers(),
        [
            ("RateLimit-Policy", "\"reads\";q=10;w=1".to_owned()),
            ("RateLimit", "\"reads\";r=0;t=1".to_owned()),
            ("Retry-After", "1".to_owned()),
        ]
    );
    clock.advance(time::Duration::milliseconds(250));
    let d = l.check("reads", "h").await.unwrap();
    assert_eq!((d.verdict, d.remaining), (Verdict::Allowed, 1));
    // Exactly 850 ms on Redis; governor hides its TAT, so the in-process figure is rounded up
    // to whole intervals.
    assert!(
        d.reset_after >= Duration::from_millis(850) && d.reset_after <= Duration::from_millis(900)
    );
    assert_eq!(d.headers()[1].1, "\"reads\";r=1;t=1");
    let purchases = l.check("purchases", "h").await.unwrap();
    assert_eq!(purchases.headers()[0].1, "\"purchases\";q=5;w=3");
}

async fn the_penalty_box_bans_repeat_offenders_until_the_ban_ends(
    l: Arc<dyn RateLimiter>,
    clock: ManualClock,
) {
    assert_eq!(
        l.check("callbacks", "bad").await.unwrap().verdict,
        Verdict::Allowed
    );
    // Two strikes are tolerated, the third bans.
    assert_eq!(
        verdicts(&*l, "callbacks", "bad", 2).await,
        [Verdict::Limited, Verdict::Limited]
    );
    let banned = l.check("callbacks", "bad").await.unwrap();
    assert_eq!(banned.verdict, Verdict::Banned);
    assert_eq!(banned.retry_after, Some(Duration::from_secs(60)));
    assert_eq!(banned.headers()[2], ("Retry-After", "60".to_owned()));
    // The rate alone would allow it now, the ban does not; other policies of the key are banned too.
    clock.advance(time::Duration::seconds(30));
    let still = l.check("callbacks", "bad").await.unwrap();
    assert_eq!(still.verdict, Verdict::Banned);
    assert_eq!(still.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(
        l.check("reads", "bad").await.unwrap().verdict,
        Verdict::Banned
    );
    assert_eq!(
        l.check("callbacks", "good").await.unwrap().verdict,
        Verdict::Allowed
    );
    clock.advance(time::Duration::milliseconds(29_999));
    assert_eq!(
        l.check("callbacks", "bad").await.unwrap().verdict,
        Verdict::Banned
    );
    clock.advance(time::Duration::milliseconds(1));
    assert_eq!(
        l.check("callbacks", "bad").await.unwrap().verdict,
        Verdict::Allowed
    );
}

async fn strikes_outside_the_window_are_forgotten(l: Arc<dyn RateLimiter>, clock: ManualClock) {
    for _ in 0..5 {
        assert_eq!(
            verdicts(&*l, "callbacks", "slow", 3).await,
            [Verdict::Allowed, Verdict::Limited, Verdict::Limited]
        );
        clock.advance(time::Duration::seconds(10));
    }
}

/// Each scenario on the in-process limiter, on the single Redis and on the Redis Cluster.
macro_rules! limiter_suite {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let clock = super::ManualClock::at_ms(super::START_MS);
                    let l = super::InProcessLimiter::new(super::policies(), std::sync::Arc::new(clock.clone())).unwrap();
                    super::$name(std::sync::Arc::new(l), clock).await;
                }
            )*
        }
        mod on_redis {
            limiter_suite!(@redis new, $($name),*);
        }
        mod on_redis_cluster {
            limiter_suite!(@redis cluster, $($name),*);
        }
    };
    (@redis $redis:ident, $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let redis = super::TestRedis::$redis();
                let clock = super::ManualClock::at_ms(super::START_MS);
                let l = super::RedisLimiter::new(redis.backend().await, super::policies(), std::sync::Arc::new(clock.clone())).unwrap();
                super::$name(std::sync::Arc::new(l), clock).await;
            }
        )*
    };
}

limiter_suite!(
    exactly_burst_requests_pass_at_once_then_one_per_interval,
    a_burst_larger_than_the_rate_is_honoured,
    keys_and_policies_are_counted_apart,
    decisions_carry_the_rate_limit_headers,
    the_penalty_box_bans_repeat_offenders_until_the_ban_ends,
    strikes_outside_the_window_are_forgotten,
);

async fn the_two_limiters_agree_on_a_long_irregular_sequence(redis: TestRedis) {
    let clock = ManualClock::at_ms(START_MS);
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let policies = vec![Policy::new("p", 4, Duration::from_millis(200)).with_burst(3)];
    let local = InProcessLimiter::new(policies.clone(), Arc::clone(&shared)).unwrap();
    let remote = RedisLimiter::new(redis.backend().await, policies, shared).unwrap();
    let mut seed: u64 = 7;
    for step in 0..300 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        clock.advance(time::Duration::milliseconds(((seed >> 33) % 90) as i64));
        let a: RateDecision = local.check("p", "k").await.unwrap();
        let b: RateDecision = remote.check("p", "k").await.unwrap();
        assert_eq!(
            (a.verdict, a.remaining, a.retry_after),
            (b.verdict, b.remaining, b.retry_after),
            "step {step}"
        );
        // governor does not expose its TAT: its reset is exact to within one interval.
        assert!(a.reset_after >= b.reset_after, "step {step}");
        assert!(
            a.reset_after - b.reset_after < Duration::from_millis(50),
            "step {step}"
        );
    }
}

async fn bans_are_shared_through_redis_and_then_answered_from_memory(redis: TestRedis) {
    let clock = ManualClock::at_ms(START_MS);
    let make = |backend| {
        RedisLimiter::new(
            backend,
            policies(),
            Arc::new(clock.clone()) as Arc<dyn Clock>,
        )
        .unwrap()
    };
    let a = make(redis.backend().await);
    let b = make(redis.backend().await);
    assert_eq!(
        verdicts(&a, "callbacks", "bad", 4).await.last(),
        Some(&Verdict::Banned)
    );
    // Another instance learns of the ban on its next check.
    assert_eq!(
        b.check("callbacks", "bad").await.unwrap().verdict,
        Verdict::Banned
    );
    // Once known, the ban no longer needs Redis: wipe it and both instances still refuse.
    redis.delete_all_keys();
    assert_eq!(
        a.check("callbacks", "bad").await.unwrap().verdict,
        Verdict::Banned
    );
    assert_eq!(
        b.check("reads", "bad").await.unwrap().verdict,
        Verdict::Banned
    );
    let c = make(redis.backend().await);
    assert_eq!(
        c.check("callbacks", "bad").await.unwrap().verdict,
        Verdict::Allowed
    );
    clock.advance(time::Duration::seconds(60));
    assert_eq!(
        a.check("reads", "bad").await.unwrap().verdict,
        Verdict::Allowed
    );
}

async fn concurrent_checks_on_several_instances_admit_exactly_the_burst(redis: TestRedis) {
    let clock = ManualClock::at_ms(START_MS);
    let mut limiters = Vec::new();
    for _ in 0..3 {
        limiters.push(Arc::new(
            RedisLimiter::new(redis.backend().await, policies(), Arc::new(clock.clone())).unwrap(),
        ));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300 {
        let l = Arc::clone(&limiters[i % 3]);
        tasks.spawn(async move { l.check("reads", "crowd").await.unwrap().verdict });
    }
    let allowed = tasks
        .join_all()
        .await
        .into_iter()
        .filter(|v| *v == Verdict::Allowed)
        .count();
    assert_eq!(allowed, 10);
}

on_each_redis!(
    the_two_limiters_agree_on_a_long_irregular_sequence,
    bans_are_shared_through_redis_and_then_answered_from_memory,
    concurrent_checks_on_several_instances_admit_exactly_the_burst,
);

#[test]
fn policies_that_cannot_work_are_rejected() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at_ms(0));
    for bad in [
        Policy::new("zero", 0, Duration::from_secs(1)),
        Policy::new("noburst", 1, Duration::from_secs(1)).with_burst(0),
        Policy::new("nopenalty", 1, Duration::from_secs(1)).with_penalty(Penalty {
            strikes: 0,
            window: Duration::from_secs(1),
            ban: Duration::from_secs(1),
        }),
    ] {
        assert!(matches!(
            InProcessLimiter::new(vec![bad], Arc::clone(&clock)),
            Err(SharedStateError::Invalid(_))
        ));
    }
}
