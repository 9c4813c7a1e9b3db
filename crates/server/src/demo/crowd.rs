//! The rush: every buyer of the crowd, each with its own token, asks for one unit at once. A buyer told
//! 503 or 429 retries with the same Idempotency-Key, as a well-behaved client does.

use super::{Demo, Progress};
use anyhow::Context;
use flashgate_core::CustomerId;
use reqwest::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Requests in flight at once: enough to race for every unit, few enough for the default file limit.
const IN_FLIGHT: usize = 256;
const ATTEMPTS: u32 = 20;
const TOKEN_TTL: time::Duration = time::Duration::hours(1);

/// A buyer who got an order.
#[derive(Debug, Clone)]
pub struct Won {
    pub token: String,
    pub order_id: String,
    pub quantity: i64,
    pub payment_url: String,
}

#[derive(Debug, Default)]
pub struct Rush {
    pub won: Vec<Won>,
    pub sold_out: usize,
    /// Any other answer, or none after every retry.
    pub refused: usize,
}

enum Answer {
    Won(Won),
    SoldOut,
    Refused,
}

#[derive(Default)]
struct Tally {
    answered: AtomicUsize,
    won: AtomicUsize,
    sold_out: AtomicUsize,
}

pub async fn rush(
    demo: &Demo,
    product: i64,
    crowd: usize,
    progress: Progress<'_>,
) -> anyhow::Result<Rush> {
    let tokens = (0..crowd)
        .map(|n| {
            let customer = CustomerId::parse(&format!("buyer-{n}"))?;
            Ok(demo.state.tokens.mint(&customer, TOKEN_TTL)?)
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .context("minting the crowd's tokens")?;
    let tally = Arc::new(Tally::default());
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut buyers = JoinSet::new();
    for token in tokens {
        let (client, url, slots, tally) = (
            demo.client.clone(),
            format!("{}/orders", demo.base_url),
            slots.clone(),
            tally.clone(),
        );
        buyers.spawn(async move {
            let _slot = slots.acquire_owned().await.ok();
            let answer = buy(&client, &url, token, product).await;
            tally.answered.fetch_add(1, Ordering::Relaxed);
            match &answer {
                Answer::Won(_) => tally.won.fetch_add(1, Ordering::Relaxed),
                Answer::SoldOut => tally.sold_out.fetch_add(1, Ordering::Relaxed),
                Answer::Refused => 0,
            };
            answer
        });
    }
    let mut rush = Rush::default();
    let every = Duration::from_millis(500);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            joined = buyers.join_next() => match joined {
                Some(answer) => match answer.context("a buyer's task")? {
                    Answer::Won(won) => rush.won.push(won),
                    Answer::SoldOut => rush.sold_out += 1,
                    Answer::Refused => rush.refused += 1,
                },
                None => break,
            },
            _ = ticker.tick() => progress(format!(
                "  {:>6}/{crowd} buyers answered · {} won · {} sold out",
                tally.answered.load(Ordering::Relaxed),
                tally.won.load(Ordering::Relaxed),
                tally.sold_out.load(Ordering::Relaxed),
            )),
        }
    }
    Ok(rush)
}

async fn buy(client: &reqwest::Client, url: &str, token: String, product: i64) -> Answer {
    #[derive(serde::Deserialize)]
    struct Order {
        id: String,
        quantity: i64,
        payment_url: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Problem {
        code: String,
    }
    let key = uuid::Uuid::new_v4().to_string();
    let body = serde_json::json!({ "product_id": product, "quantity": 1 });
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(url)
            .bearer_auth(&token)
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == StatusCode::CREATED => {
                return match response.json::<Order>().await {
                    Ok(Order {
                        id,
                        quantity,
                        payment_url: Some(payment_url),
                    }) => Answer::Won(Won {
                        token,
                        order_id: id,
                        quantity,
                        payment_url,
                    }),
                    _ => Answer::Refused,
                };
            }
            Ok(response)
                if response.status() == StatusCode::SERVICE_UNAVAILABLE
                    || response.status() == StatusCode::TOO_MANY_REQUESTS => {}
            Ok(response) => {
                return match response.json::<Problem>().await {
                    Ok(problem) if problem.code == "sold_out" => Answer::SoldOut,
                    _ => Answer::Refused,
                };
            }
            // No answer: the purchase may or may not have been made; the same key makes the retry safe.
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
    }
    Answer::Refused
}
