//! The command line: a reader that stops reading (`flashgate audit --json | head`) ends it quietly,
//! without a panic; a command that only reads leaves no database file where there was none.

use std::process::{Command, Stdio};

#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let database = std::env::temp_dir().join(format!(
        "fg-closed-pipe-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    for args in [
        &["migrate"][..],
        &["audit", "--json"],
        &["audit"],
        &["token", "--customer", "alice"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = Command::new(env!("CARGO_BIN_EXE_flashgate"))
            .args(args)
            .env_clear()
            .env(
                "FLASHGATE_DATABASE_URL",
                format!("sqlite:{}", database.display()),
            )
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
            .wait_with_output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
}

#[test]
fn an_audit_of_a_database_file_that_is_not_there_creates_none() {
    let database =
        std::env::temp_dir().join(format!("fg-missing-{}.db", uuid::Uuid::new_v4().simple()));
    let output = Command::new(env!("CARGO_BIN_EXE_flashgate"))
        .arg("audit")
        .env_clear()
        .env(
            "FLASHGATE_DATABASE_URL",
            format!("sqlite:{}", database.display()),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot audit"), "{stderr}");
    assert!(!database.exists(), "{}", database.display());
}
