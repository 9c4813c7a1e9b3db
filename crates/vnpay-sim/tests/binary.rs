//! The `vnpay-sim` binary end to end: start it on a free port, pay through `/sim/pay`, stop it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use vnpay::{Callback, HashSecret};

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary on a free port, and its base URL once it listens.
async fn start() -> (Child, String) {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_vnpay-sim"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--tmn-code",
                TMN,
                "--secret",
                SECRET,
            ])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let base = tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(at) = line.find("http://127.0.0.1:") {
                let rest = &line[at + "http://127.0.0.1:".len()..];
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                return format!("http://127.0.0.1:{port}");
            }
        }
        panic!("the simulator never reported its address");
    })
    .await
    .unwrap();
    (child, base)
}

#[tokio::test]
async fn the_binary_serves_payments_for_the_terminal_given_on_the_command_line() {
    let (_child, base) = start().await;

    let url = pay_request("BIN-1", 75_000, now())
        .to_url(&format!("{base}/paymentv2/vpcpay.html"), &terminal());
    let done: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/sim/pay"))
        .json(&serde_json::json!({"url": url, "outcome": "success"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let back = done["return_url"].as_str().unwrap();
    let cb = Callback::verify(query_of(back), &HashSecret::new(SECRET)).unwrap();
    assert!(cb.is_paid());
}

/// `docker stop` sends SIGTERM: the simulator stops as on Ctrl-C, and exits 0.
#[tokio::test]
async fn sigterm_stops_the_binary_cleanly() {
    let (mut child, _) = start().await;
    let pid = child.0.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success());
    let status = tokio::task::spawn_blocking(move || child.0.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
}
