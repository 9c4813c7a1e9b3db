//! The topology of `scripts/cluster.sh` as a value: brought up by the script from the binaries cargo
//! built, on free ports, with its own database and Redis prefix; stopped with the script when dropped.

use super::{ADMIN, INSTANCES, JWT_SECRET};
use flashgate_testkit::TestRedis;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A base port with the load balancer's, the instances' and the simulator's ports all free.
fn free_base_port() -> u16 {
    for _ in 0..200 {
        // Below Linux's ephemeral range (32768+), so no outgoing connection takes a port meanwhile.
        let base = 20_000 + (rand_u16() % 12_000);
        let ports = (0..=INSTANCES).chain([10]).map(|offset| base + offset);
        if ports
            .map(|port| TcpListener::bind(("127.0.0.1", port)))
            .all(|bound| bound.is_ok())
        {
            return base;
        }
    }
    panic!("no free ports for the cluster");
}

fn rand_u16() -> u16 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u16::from_le_bytes([bytes[0], bytes[1]])
}

/// The topology `scripts/cluster.sh up` starts, stopped with `down` when dropped.
pub struct Cluster {
    /// State, pid files and logs; removed when the cluster is.
    dir: PathBuf,
    env: Vec<(&'static str, String)>,
    pub lb: String,
    pub sim: String,
}

impl Cluster {
    pub fn up(database_url: &str, redis: &TestRedis) -> Self {
        let flashgate = PathBuf::from(env!("CARGO_BIN_EXE_flashgate"));
        let simulator = flashgate.with_file_name("vnpay-sim");
        assert!(
            simulator.exists(),
            "the vnpay-sim binary is missing beside {}: build it with `cargo build -p vnpay-sim` \
             (scripts/test.sh builds every binary of the workspace)",
            flashgate.display()
        );
        let dir = std::env::temp_dir().join(format!(
            "flashgate-cluster-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let base = free_base_port();
        let env = vec![
            ("CLUSTER_DIR", dir.display().to_string()),
            ("CLUSTER_INSTANCES", INSTANCES.to_string()),
            ("CLUSTER_PORT", base.to_string()),
            ("CLUSTER_DATABASE_URL", database_url.to_owned()),
            ("CLUSTER_REDIS_URL", redis.url()),
            ("CLUSTER_FLASHGATE_BIN", flashgate.display().to_string()),
            ("CLUSTER_SIM_BIN", simulator.display().to_string()),
            ("CLUSTER_SIM_IPN_RETRY_SECS", "1".to_owned()),
            ("FLASHGATE_REDIS__KEY_PREFIX", redis.prefix.clone()),
            // The test's own; the VNPay secret is the one the script makes for the cluster.
            ("FLASHGATE_ADMIN_TOKEN", ADMIN.to_owned()),
            ("FLASHGATE_JWT_SECRET", JWT_SECRET.to_owned()),
            // The whole crowd reaches the instances as 127.0.0.1: rate limits have their own suite.
            ("FLASHGATE_LIMITS__ENABLED", "false".to_owned()),
            // Several test databases share one PostgreSQL server.
            ("FLASHGATE_DATABASE__MAX_CONNECTIONS", "6".to_owned()),
            // The reconciler finds the payments whose IPN was dropped within seconds.
            ("FLASHGATE_RECONCILER__TICK_MS", "200".to_owned()),
            (
                "FLASHGATE_RECONCILER__FIRST_POLL_AFTER_SECONDS",
                "1".to_owned(),
            ),
            (
                "FLASHGATE_RECONCILER__POLL_INTERVAL_SECONDS",
                "1".to_owned(),
            ),
            (
                "FLASHGATE_RECONCILER__MIN_POLL_INTERVAL_SECONDS",
                "1".to_owned(),
            ),
            ("FLASHGATE_EXPIRER__LEASE_SECONDS", "3".to_owned()),
            // A lease outlasts the gateway call made under it; the simulator answers at once.
            ("FLASHGATE_VNPAY__API_TIMEOUT_MS", "2000".to_owned()),
        ];
        let cluster = Self {
            env,
            lb: format!("http://127.0.0.1:{base}"),
            sim: format!("http://127.0.0.1:{}", base + 10),
            dir,
        };
        let output = cluster.script("up");
        assert!(
            output.status.success(),
            "scripts/cluster.sh up failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stderr),
            cluster.logs()
        );
        cluster
    }

    fn script(&self, command: &str) -> std::process::Output {
        Command::new(repo_root().join("scripts/cluster.sh"))
            .arg(command)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap()
    }

    fn pid(&self, instance: u16) -> String {
        std::fs::read_to_string(self.dir.join(format!("flashgate-{instance}.pid")))
            .unwrap()
            .trim()
            .to_owned()
    }

    pub fn kill(&self, instance: u16) {
        let status = Command::new("kill")
            .args(["-KILL", &self.pid(instance)])
            .status()
            .unwrap();
        assert!(status.success(), "kill -KILL flashgate-{instance}");
    }

    /// Alive and not a zombie (the instances' parent, the script, has exited; nobody may reap them).
    pub fn running(&self, instance: u16) -> bool {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid(instance))).is_ok_and(
            |status| {
                !status
                    .lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'))
            },
        )
    }

    pub fn logs(&self) -> String {
        let mut logs = String::new();
        for name in [
            "flashgate-1.log",
            "flashgate-2.log",
            "vnpay-sim.log",
            "nginx/error.log",
        ] {
            let text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            logs += &format!("--- {name}\n");
            for line in tail.into_iter().rev() {
                logs += line;
                logs.push('\n');
            }
        }
        logs
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.script("down");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
