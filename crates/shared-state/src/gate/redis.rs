//! The gate on Redis: one Lua script per operation, all keys of a product under the hash tag
//! `{p:<id>}`, plus local sold-out flags kept in step across instances over pub/sub.
//!
//! Keys (`P` is the backend's key prefix):
//! - `P{p:<id>}:state`  hash `available`, `epoch`, and when set `limit`, `starts`, `ends` (ms)
//! - `P{p:<id>}:held`   hash customer -> units held in live and paid orders
//! - `P{p:<id>}:idem:<len(customer)>:<customer>:<key>`  `"<epoch>:<qty>"`, expires after the
//!   idempotency TTL
//!
//! State and held keys have no TTL: run Redis with `noeviction` (or a `volatile-*` policy) so they
//! are never evicted; if they are lost anyway the gate answers `NotLoaded`.
//!
//! Channel `P gate:events` carries `sold_out:<id>` and `reopen:<id>`; each also moves the product's
//! change count (`Gate::changes`), as does a lost subscription for every product.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use redis::Script;

use super::changes::Changes;
use super::sold_out::{SoldOutFlags, Verdict};
use super::{
    Admission, AdmitRequest, CustomerCount, Fenced, Gate, GateConfig, GateProduct, check_quantity,
    check_snapshot,
};
use crate::error::SharedStateError;
use crate::redis_backend::RedisBackend;
use crate::subscriber::{BusEvent, Subscription};

static ADMIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/admit.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/release.lua")));
static GIVE_BACK: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/give_back.lua")));
static LOAD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/load.lua")));
static HELD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/held.lua")));
static CORRECT_HELD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/correct_held.lua")));
/// Customers whose counts one call of `held.lua` reads.
const HELD_AT_ONCE: usize = 1_000;

pub struct RedisGate {
    backend: RedisBackend,
    config: GateConfig,
    flags: Arc<SoldOutFlags>,
    changes: Arc<Changes>,
    channel: String,
    subscription: Subscription,
}

impl std::fmt::Debug for RedisGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisGate")
            .field("channel", &self.channel)
            .field("subscribed", &self.subscription.is_ready())
            .finish_non_exhaustive()
    }
}

impl RedisGate {
    /// Starts the sold-out subscriber and waits (up to the connect timeout) until it listens, so
    /// flags raised by other instances are seen from the first request on.
    pub async fn new(backend: RedisBackend, config: GateConfig) -> Self {
        let flags = Arc::new(SoldOutFlags::new(config.sold_out_ttl));
        let channel = format!("{}gate:events", backend.key_prefix());
        let changes = Arc::new(Changes::default());
        let (handler_flags, handler_changes) = (Arc::clone(&flags), Arc::clone(&changes));
        let subscription = Subscription::spawn(
            &backend,
            channel.clone(),
            Arc::new(move |event: BusEvent<'_>| match event {
                BusEvent::Resync => {
                    handler_changes.note_all();
                    handler_flags.clear_all();
                }
                BusEvent::Message(msg) => match parse_event(msg) {
                    Some(GateEvent::SoldOut(id)) => {
                        handler_changes.note(id);
                        handler_flags.set(id);
                    }
                    Some(GateEvent::Reopen(id)) => {
                        handler_changes.note(id);
                        handler_flags.clear(id);
                    }
                    None => tracing::warn!(msg, "unknown gate event"),
                },
            }),
        );
        subscription.wait_ready(backend.connect_timeout()).await;
        Self {
            backend,
            config,
            flags,
            changes,
            channel,
            subscription,
        }
    }

    /// Whether this instance currently answers `SoldOut` for the product from memory. A flag is
    /// trusted while the subscription that can clear it listens, and during an outage (when Redis
    /// could not be asked anyway); not in between, when Redis answers again but reopen messages
    /// would still be missed.
    pub fn is_marked_sold_out(&self, product_id: i64) -> bool {
        self.flags.is_set(product_id)
            && (self.subscription.is_ready() || self.backend.health().is_degraded())
    }

    /// Sold out from memory: the product is flagged and the customer was never admitted for it. The
    /// buyers are read once per raising of the flag (one SMEMBERS, as many names as admissions).
    async fn answers_from_memory(&self, req: &AdmitRequest) -> bool {
        if !self.is_marked_sold_out(req.product_id) {
            return false;
        }
        match self.flags.verdict(req.product_id, &req.customer) {
            Verdict::SoldOut => true,
            Verdict::Open | Verdict::Holder => false,
            Verdict::HoldersUnknown { raised } => {
                // Everyone ever admitted, not only who holds units now: a buyer whose hold ran out
                // may be retrying a purchase whose first answer is stored.
                let buyers = self.key(req.product_id, "buyers");
                let read = self
                    .backend
                    .run(|mut conn| async move {
                        redis::cmd("SMEMBERS")
                            .arg(&buyers)
                            .query_async::<Vec<String>>(&mut conn)
                            .await
                    })
                    .await;
                match read {
                    Ok(holders) => {
                        let holder = holders.contains(&req.customer);
                        self.flags.set_holders(
                            req.product_id,
                            raised,
                            holders.into_iter().collect(),
                        );
                        !holder
                    }
                    // The script will answer, or say why it cannot.
                    Err(_) => false,
                }
            }
        }
    }

    fn key(&self, product_id: i64, suffix: &str) -> String {
        format!("{}{{p:{product_id}}}:{suffix}", self.backend.key_prefix())
    }

    fn idem_key(&self, req: &AdmitRequest) -> String {
        // Length-prefixed so that no (customer, key) pair can spell another's key.
        self.key(
            req.product_id,
            &format!(
                "idem:{}:{}:{}",
                req.customer.len(),
                req.customer,
                req.idempotency_key
            ),
        )
    }

    async fn mark_sold_out(&self, product_id: i64) {
        self.changes.note(product_id);
        self.flags.set(product_id);
        self.backend
            .publish(&self.channel, &format!("sold_out:{product_id}"))
            .await;
    }

    async fn reopen(&self, product_id: i64) {
        // Counted here as well as when the message comes back: this instance's next request
        // must not use a memory that the give-back just made stale.
        self.changes.note(product_id);
        self.flags.clear(product_id);
        self.backend
            .publish(&self.channel, &format!("reopen:{product_id}"))
            .await;
    }

    async fn after_units_returned(&self, product_id: i64, available: i64) {
        if available > 0 {
            self.reopen(product_id).await;
        }
    }
}

#[async_trait]
impl Gate for RedisGate {
    async fn admit_fenced(&self, req: &AdmitRequest) -> Result<Fenced, SharedStateError> {
        check_quantity(req.quantity)?;
        if self.answers_from_memory(req).await {
            return Ok(Fenced {
                admission: Admission::SoldOut,
                epoch: 0,
                holder: false,
            });
        }
        let keys = [
            self.key(req.product_id, "state"),
            self.key(req.product_id, "held"),
            self.idem_key(req),
            self.key(req.product_id, "buyers"),
        ];
        let ttl_ms = u64::try_from(self.config.idempotency_ttl.as_millis()).unwrap_or(u64::MAX);
        let (code, available, epoch, holder): (i64, i64, String, i64) = self
            .backend
            .run(|mut conn| async move {
                ADMIT
                    .key(&keys[..])
                    .arg(&req.customer)
                    .arg(req.quantity)
                    .arg(req.now_ms)
                    .arg(ttl_ms.max(1))
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        let admission = match code {
            0 => Admission::Admitted {
                remaining: available,
            },
            1 => Admission::SoldOut,
            2 => Admission::LimitExceeded,
            3 => Admission::SaleNotActive,
            4 => Admission::Duplicate,
            5 => Admission::NotLoaded,
            other => {
                return Err(SharedStateError::Protocol(format!(
                    "admit script returned code {other}"
                )));
            }
        };
        // Only an empty product raises the flag: "3 left, you asked for 5" is not sold out.
        let emptied = matches!(admission, Admission::Admitted { remaining: 0 })
            || (admission == Admission::SoldOut && available <= 0);
        if emptied {
            self.mark_sold_out(req.product_id).await;
        }
        let epoch = if epoch.is_empty() {
            0
        } else {
            epoch
                .parse()
                .map_err(|_| SharedStateError::Protocol(format!("gate epoch {epoch:?}")))?
        };
        Ok(Fenced {
            admission,
            epoch,
            holder: holder == 1,
        })
    }

    async fn release_fenced(
        &self,
        req: &AdmitRequest,
        epoch: Option<u64>,
    ) -> Result<(), SharedStateError> {
        check_quantity(req.quantity)?;
        let keys = [
            self.key(req.product_id, "state"),
            self.key(req.product_id, "held"),
            self.idem_key(req),
            self.key(req.product_id, "buyers"),
        ];
        let available: i64 = self
            .backend
            .run(|mut conn| async move {
                RELEASE
                    .key(&keys[..])
                    .arg(&req.customer)
                    .arg(epoch.map(|e| e.to_string()).unwrap_or_default())
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        self.after_units_returned(req.product_id, available).await;
        Ok(())
    }

    async fn give_back_fenced(
        &self,
        product_id: i64,
        customer: &str,
        quantity: i64,
        epoch: Option<u64>,
    ) -> Result<(), SharedStateError> {
        check_quantity(quantity)?;
        let keys = [self.key(product_id, "state"), self.key(product_id, "held")];
        let available: i64 = self
            .backend
            .run(|mut conn| async move {
                GIVE_BACK
                    .key(&keys[..])
                    .arg(customer)
                    .arg(quantity)
                    .arg(epoch.map(|e| e.to_string()).unwrap_or_default())
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        self.after_units_returned(product_id, available).await;
        Ok(())
    }

    async fn load_fenced(
        &self,
        product: &GateProduct,
        holdings: &[(String, i64)],
        epoch: u64,
    ) -> Result<(), SharedStateError> {
        check_snapshot(product, holdings)?;
        let keys = [
            self.key(product.product_id, "state"),
            self.key(product.product_id, "held"),
            self.key(product.product_id, "buyers"),
        ];
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        let mut args = vec![
            epoch.to_string(),
            product.available.to_string(),
            opt(product.per_customer_limit),
            opt(product.sale_starts_at_ms),
            opt(product.sale_ends_at_ms),
        ];
        for (customer, held) in holdings {
            args.push(customer.clone());
            args.push(held.to_string());
        }
        let _: i64 = self
            .backend
            .run(|mut conn| async move {
                LOAD.key(&keys[..])
                    .arg(&args[..])
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        if product.available > 0 {
            self.reopen(product.product_id).await;
        } else {
            self.mark_sold_out(product.product_id).await;
        }
        Ok(())
    }

    async fn held(
        &self,
        product_id: i64,
        customers: &[&str],
    ) -> Result<Option<Vec<CustomerCount>>, SharedStateError> {
        let keys = [self.key(product_id, "state"), self.key(product_id, "held")];
        let mut counts = Vec::with_capacity(customers.len());
        // Bounded calls: a script's arguments all sit on the Lua stack at once. No customers still
        // asks once, so the answer says whether the product is loaded as the in-process gate's does.
        let mut chunks: Vec<&[&str]> = customers.chunks(HELD_AT_ONCE).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        for chunk in chunks {
            let keys = &keys;
            let (epoch, held): (String, Vec<i64>) = self
                .backend
                .run(|mut conn| async move {
                    HELD.key(&keys[..]).arg(chunk).invoke_async(&mut conn).await
                })
                .await?;
            if epoch.is_empty() {
                return Ok(None);
            }
            let epoch = epoch
                .parse()
                .map_err(|_| SharedStateError::Protocol(format!("gate epoch {epoch:?}")))?;
            if held.len() != chunk.len() {
                return Err(SharedStateError::Protocol(format!(
                    "{} counts for {} customers",
                    held.len(),
                    chunk.len()
                )));
            }
            counts.extend(held.into_iter().map(|held| CustomerCount { held, epoch }));
        }
        Ok(Some(counts))
    }

    async fn correct_held(
        &self,
        product_id: i64,
        customer: &str,
        seen: CustomerCount,
        corrected: i64,
    ) -> Result<bool, SharedStateError> {
        let keys = [self.key(product_id, "state"), self.key(product_id, "held")];
        let corrected: i64 = self
            .backend
            .run(|mut conn| async move {
                CORRECT_HELD
                    .key(&keys[..])
                    .arg(customer)
                    .arg(seen.held)
                    .arg(corrected)
                    .arg(seen.epoch.to_string())
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(corrected == 1)
    }

    async fn available(&self, product_id: i64) -> Result<Option<i64>, SharedStateError> {
        let key = self.key(product_id, "state");
        self.backend
            .run(|mut conn| async move {
                redis::cmd("HGET")
                    .arg(&key)
                    .arg("available")
                    .query_async::<Option<i64>>(&mut conn)
                    .await
            })
            .await
    }

    async fn epoch(&self, product_id: i64) -> Result<Option<u64>, SharedStateError> {
        let key = self.key(product_id, "state");
        let epoch: Option<String> = self
            .backend
            .run(|mut conn| async move {
                redis::cmd("HGET")
                    .arg(&key)
                    .arg("epoch")
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        epoch
            .map(|e| {
                e.parse()
                    .map_err(|_| SharedStateError::Protocol(format!("gate epoch {e:?}")))
            })
            .transpose()
    }

    /// Vouched for while the subscription that hears other instances' changes listens, and not
    /// for a product flagged sold out here (its sold-out answer comes before any limit's).
    fn changes(&self, product_id: i64) -> Option<u64> {
        let heard = self.subscription.is_ready() && !self.flags.is_set(product_id);
        heard.then(|| self.changes.of(product_id)).flatten()
    }
}

enum GateEvent {
    SoldOut(i64),
    Reopen(i64),
}

fn parse_event(msg: &str) -> Option<GateEvent> {
    let (kind, id) = msg.split_once(':')?;
    let id = id.parse().ok()?;
    match kind {
        "sold_out" => Some(GateEvent::SoldOut(id)),
        "reopen" => Some(GateEvent::Reopen(id)),
        _ => None,
    }
}
