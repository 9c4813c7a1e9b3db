//! Redis for one test: a key prefix on the shared server (`TestRedis`, from flashgate-shared-state), or
//! a `redis-server` of its own that it may flush, kill and restart without touching anyone else's.

use crate::eventually;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A private Redis server this test may flush, kill and restart without touching anyone else's.
pub struct RedisProcess {
    pub port: u16,
    child: Option<Child>,
}

impl RedisProcess {
    /// The key prefix of instances on a private server: nobody else's keys live there.
    pub const PREFIX: &'static str = "fgtest:";

    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("these tests start their own redis-server; is it installed?");
        self.child = Some(child);
        let url = self.url();
        let up = eventually(Duration::from_secs(10), || {
            let url = url.clone();
            async move { ping(&url).is_ok() }
        })
        .await;
        assert!(up, "the private redis-server did not start");
    }

    /// SIGKILL: no goodbye to clients, state gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn ping(url: &str) -> redis::RedisResult<()> {
    let mut conn = redis::Client::open(url)?.get_connection()?;
    redis::cmd("PING").query::<String>(&mut conn).map(|_| ())
}
