//! The command line's output: a reader that stops reading (`flashgate audit --json | head`) ends it
//! quietly, without a panic.

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
