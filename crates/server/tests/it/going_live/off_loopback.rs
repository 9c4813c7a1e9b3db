//! The binary refuses to start off loopback with a development secret or the bundled simulator, and
//! says which setting; a staging demo that declares its simulator public starts, with a warning.
//! Commands that do not listen run wherever the settings say the service would.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Our own secrets and a real gateway: what a deployment off loopback sets.
const DEPLOYMENT: [(&str, &str); 5] = [
    ("FLASHGATE_ADMIN_TOKEN", "an-admin-token-of-our-own"),
    (
        "FLASHGATE_JWT_SECRET",
        "a-jwt-secret-of-our-own-0123456789abcdef",
    ),
    ("FLASHGATE_VNPAY__HASH_SECRET", "a-vnpay-secret-of-our-own"),
    (
        "FLASHGATE_VNPAY__PAY_URL",
        "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html",
    ),
    (
        "FLASHGATE_VNPAY__API_URL",
        "https://sandbox.vnpayment.vn/merchant_webapi/api/transaction",
    ),
];

/// `flashgate serve` on all interfaces with the deployment's settings, less `unset`, plus `extra`;
/// nothing else from this process's environment.
fn serve(unset: &[&str], extra: &[(&str, &str)], database: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flashgate"));
    command
        .arg("serve")
        .env_clear()
        .env("FLASHGATE_LISTEN", "0.0.0.0:0")
        .env(
            "FLASHGATE_DATABASE_URL",
            format!("sqlite:{}", database.display()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in DEPLOYMENT {
        if !unset.contains(&key) {
            command.env(key, value);
        }
    }
    for (key, value) in extra {
        command.env(key, value);
    }
    command
}

/// A database file of its own in the temporary folder (a refused start never creates it).
fn scratch_database() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "fg-off-loopback-{}.db",
        uuid::Uuid::new_v4().simple()
    ))
}

fn refusal(unset: &[&str]) -> String {
    refusal_with(unset, &[])
}

fn refusal_with(unset: &[&str], extra: &[(&str, &str)]) -> String {
    let database = scratch_database();
    let child = serve(unset, extra, &database).spawn().unwrap();
    let pid = child.id();
    // A start that is not refused serves until stopped: stop it, and fail, rather than hang.
    let (done, waited) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let Ok(output) = waited.recv_timeout(std::time::Duration::from_secs(30)) else {
        let _ = Command::new("kill").arg(pid.to_string()).status();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
        }
        panic!("the start must be refused, but it served (unset {unset:?}, with {extra:?})");
    };
    let output = output.unwrap();
    assert!(!database.exists(), "a refused start touches no database");
    assert_eq!(output.status.code(), Some(2), "the start must be refused");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn each_development_secret_stops_the_start_naming_its_setting() {
    for (variable, setting) in [
        ("FLASHGATE_ADMIN_TOKEN", "admin_token"),
        ("FLASHGATE_JWT_SECRET", "jwt_secret"),
        ("FLASHGATE_VNPAY__HASH_SECRET", "vnpay.hash_secret"),
    ] {
        let stderr = refusal(&[variable]);
        assert!(
            stderr.starts_with(&format!("flashgate: {setting}: the development value")),
            "{setting}: {stderr}"
        );
    }
}

#[test]
fn the_bundled_simulator_stops_the_start_naming_its_settings() {
    let stderr = refusal(&["FLASHGATE_VNPAY__PAY_URL", "FLASHGATE_VNPAY__API_URL"]);
    assert!(
        stderr.starts_with(
            "flashgate: vnpay.pay_url and vnpay.api_url: empty means the bundled VNPay simulator"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("vnpay.simulator_public"), "{stderr}");
}

#[test]
fn a_simulator_declared_public_starts_with_a_warning() {
    let database = scratch_database();
    let mut child = serve(
        &["FLASHGATE_VNPAY__PAY_URL", "FLASHGATE_VNPAY__API_URL"],
        &[("FLASHGATE_VNPAY__SIMULATOR_PUBLIC", "true")],
        &database,
    )
    .spawn()
    .unwrap();
    // The warning comes before the line that says the service is serving; a refused start ends the
    // output early instead.
    let mut warned = false;
    let mut serving = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        warned |= line.contains("WARN") && line.contains("vnpay.simulator_public");
        if line.contains("flashgate serving") {
            serving = true;
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    assert!(serving, "a declared public simulator may start");
    assert!(warned, "and says so at every start");
}

/// The image bakes `FLASHGATE_LISTEN=0.0.0.0:8080`; `flashgate token`, `migrate` and `audit` open no
/// port, so what listening off loopback forbids does not stop them.
#[test]
fn commands_that_do_not_listen_run_with_an_address_off_loopback() {
    let database = scratch_database();
    for args in [
        &["token", "--customer", "alice"][..],
        &["migrate"],
        &["audit"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_flashgate"))
            .args(args)
            .env_clear()
            .env("FLASHGATE_LISTEN", "0.0.0.0:8080")
            .env(
                "FLASHGATE_DATABASE_URL",
                format!("sqlite:{}", database.display()),
            )
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
}

/// querydr and refund carry the calling server's IP (`vnp_IpAddr`, VNPay spec §5.1); listening on
/// every address says nothing about which one the gateway sees, so a real gateway needs it said.
#[test]
fn listening_everywhere_against_the_real_gateway_needs_the_server_ip() {
    let database = scratch_database();
    let output = serve(&[], &[], &database).output().unwrap();
    assert!(!database.exists(), "a refused start touches no database");
    assert!(!output.status.success(), "the start must be refused");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("flashgate: vnpay.server_ip: flashgate listens on 0.0.0.0"),
        "{stderr}"
    );
    assert!(stderr.contains("FLASHGATE_VNPAY__SERVER_IP"), "{stderr}");
}

/// The usual single-host deployment: nginx on :443 in front of 127.0.0.1:8080, trusted as a proxy, or
/// a public URL buyers and the gateway are sent to. Listening on loopback does not make it private:
/// the development secrets, the bundled simulator and bare-customer sessions are refused as off
/// loopback, naming what exposes the service.
#[test]
fn a_loopback_address_behind_a_proxy_or_a_public_url_is_exposed() {
    let proxied = [
        ("FLASHGATE_LISTEN", "127.0.0.1:0"),
        ("FLASHGATE_HTTP__TRUSTED_PROXIES", "[\"127.0.0.1/32\"]"),
    ];
    let announced = [
        ("FLASHGATE_LISTEN", "127.0.0.1:0"),
        ("FLASHGATE_VNPAY__PUBLIC_URL", "https://shop.example"),
    ];
    for (extra, named) in [
        (&proxied, "http.trusted_proxies"),
        (&announced, "vnpay.public_url"),
    ] {
        let stderr = refusal_with(&["FLASHGATE_ADMIN_TOKEN"], extra);
        assert!(
            stderr.starts_with("flashgate: admin_token: the development value")
                && stderr.contains(named),
            "{named}: {stderr}"
        );
        let stderr = refusal_with(
            &["FLASHGATE_VNPAY__PAY_URL", "FLASHGATE_VNPAY__API_URL"],
            extra,
        );
        assert!(
            stderr.starts_with("flashgate: vnpay.pay_url and vnpay.api_url:")
                && stderr.contains(named),
            "{named}: {stderr}"
        );
        let mut bare = extra.to_vec();
        bare.push(("FLASHGATE_AUTH__SESSIONS__ALLOW_BARE_CUSTOMER", "true"));
        let stderr = refusal_with(&[], &bare);
        assert!(
            stderr.starts_with("flashgate: auth.sessions.allow_bare_customer:")
                && stderr.contains(named),
            "{named}: {stderr}"
        );
    }
}

/// One secret for both the admin API and the buyers' tokens is refused at start, by both names.
#[test]
fn an_admin_token_equal_to_the_jwt_secret_stops_the_start() {
    let same = "a-jwt-secret-of-our-own-0123456789abcdef";
    let stderr = refusal_with(&[], &[("FLASHGATE_ADMIN_TOKEN", same)]);
    assert!(
        stderr.starts_with("flashgate: admin_token and jwt_secret:"),
        "{stderr}"
    );
}
