//! A Redis Cluster of the test's own: three masters and a replica each, `redis-server`s on free ports,
//! which the test may fail over or kill without disturbing the shared cluster other tests run on.

use crate::eventually;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// How long a node may be silent before the others deem it failed: short, so a test's failover takes
/// seconds.
const NODE_TIMEOUT_MS: u32 = 1000;

struct Node {
    port: u16,
    child: Mutex<Option<Child>>,
}

pub struct RedisClusterProcess {
    nodes: Vec<Node>,
    dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn connection(port: u16) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))?.get_connection()
}

/// A node as `CLUSTER NODES` reports it.
struct Seen {
    port: u16,
    id: String,
    flags: String,
    /// The master's id, for a replica.
    master: String,
    /// The slot ranges a master serves.
    slots: Vec<(i64, i64)>,
}

/// `CLUSTER NODES` as the node on `port` sees it.
fn cluster_nodes(port: u16) -> redis::RedisResult<Vec<Seen>> {
    let reply: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut connection(port)?)?;
    Ok(reply
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = f
                .get(1)?
                .split('@')
                .next()?
                .rsplit(':')
                .next()?
                .parse()
                .ok()?;
            let slots = f
                .iter()
                .skip(8)
                .filter_map(|range| {
                    let (start, end) = range.split_once('-').unwrap_or((range, range));
                    Some((start.parse().ok()?, end.parse().ok()?))
                })
                .collect();
            Some(Seen {
                port,
                id: f.first()?.to_string(),
                flags: f.get(2)?.to_string(),
                master: f.get(3)?.to_string(),
                slots,
            })
        })
        .collect())
}

impl RedisClusterProcess {
    pub async fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("fg-test-cluster-{}", uuid::Uuid::new_v4().simple()));
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let (port, bus) = (free_port(), free_port());
            let node_dir = dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
                .args(["--save", "", "--appendonly", "no"])
                // A replica syncs at once rather than after the default 5 s, so that a failover right
                // after the start promotes a replica that holds the data.
                .args(["--repl-diskless-sync-delay", "0"])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("these tests start their own redis-server; is it installed?");
            nodes.push(Node {
                port,
                child: Mutex::new(Some(child)),
            });
        }
        let cluster = Self { nodes, dir };
        for node in &cluster.nodes {
            let port = node.port;
            let up = eventually(Duration::from_secs(10), || async move {
                connection(port).is_ok()
            })
            .await;
            assert!(up, "a private cluster node did not start on port {port}");
        }
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(
                cluster
                    .nodes
                    .iter()
                    .map(|n| format!("127.0.0.1:{}", n.port)),
            )
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli runs");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        cluster.wait_healthy(&[]).await;
        cluster
    }

    /// Every node, the first one first (where instances subscribe to pub/sub), comma-separated.
    pub fn url_starting_with(&self, first: u16) -> String {
        let mut ports: Vec<u16> = self.nodes.iter().map(|n| n.port).collect();
        ports.sort_by_key(|p| *p != first);
        ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The port of the master that serves `key`'s slot now, and of its replica.
    pub fn master_and_replica_of(&self, key: &str) -> (u16, u16) {
        let port = self.live_port();
        let mut conn = connection(port).unwrap();
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut conn)
            .unwrap();
        let nodes = cluster_nodes(port).unwrap();
        let master = nodes
            .iter()
            .find(|n| {
                n.flags.contains("master")
                    && n.slots
                        .iter()
                        .any(|(start, end)| (*start..=*end).contains(&slot))
            })
            .expect("every slot is served");
        let replica = nodes
            .iter()
            .find(|n| n.master == master.id)
            .expect("the master has a replica");
        let (master, replica) = (master.port, replica.port);
        (master, replica)
    }

    /// `CLUSTER FAILOVER TAKEOVER` on `replica`: it becomes master at once, without asking its master
    /// or the others (the old master is demoted when it hears of it); returns when it serves.
    pub fn take_over(&self, replica: u16) {
        redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .arg("TAKEOVER")
            .query::<()>(&mut connection(replica).unwrap())
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let role: Vec<redis::Value> = redis::cmd("ROLE")
                .query(&mut connection(replica).unwrap())
                .unwrap();
            if redis::from_redis_value::<String>(role[0].clone()).unwrap() == "master" {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the takeover did not happen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: the node is gone with what it held; its replica takes over after the node timeout.
    pub fn kill(&self, port: u16) {
        let node = self.nodes.iter().find(|n| n.port == port).unwrap();
        if let Some(mut child) = node.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the nodes still running agree on a cluster that serves every slot with three
    /// masters, none failing but the `killed` ones, and every replica is in sync with its master.
    pub async fn wait_healthy(&self, killed: &[u16]) {
        let alive: Vec<u16> = self
            .nodes
            .iter()
            .map(|n| n.port)
            .filter(|p| !killed.contains(p))
            .collect();
        let healthy = eventually(Duration::from_secs(30), || {
            let alive = alive.clone();
            async move {
                alive.iter().all(|port| {
                    let ok = connection(*port)
                        .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c))
                        .is_ok_and(|info| info.contains("cluster_state:ok"));
                    let masters = cluster_nodes(*port).is_ok_and(|nodes| {
                        nodes
                            .iter()
                            .filter(|n| alive.contains(&n.port))
                            .filter(|n| n.flags.contains("master") && !n.flags.contains("fail"))
                            .count()
                            == 3
                    });
                    // A replica whose link is down would be promoted without the data.
                    let synced = connection(*port)
                        .and_then(|mut c| {
                            redis::cmd("INFO")
                                .arg("replication")
                                .query::<String>(&mut c)
                        })
                        .is_ok_and(|info| {
                            info.contains("role:master") || info.contains("master_link_status:up")
                        });
                    ok && masters && synced
                })
            }
        })
        .await;
        assert!(healthy, "the private cluster did not settle");
    }

    fn live_port(&self) -> u16 {
        self.nodes
            .iter()
            .find(|n| n.child.lock().unwrap().is_some())
            .unwrap()
            .port
    }
}

impl Drop for RedisClusterProcess {
    fn drop(&mut self) {
        for node in &self.nodes {
            self.kill(node.port);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
