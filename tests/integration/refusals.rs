//! Refusing a database changes nothing (issue 11, case 3), every failure kind has one exit
//! code in every subcommand, as README's table says (case 4), and one lock per database
//! file, whatever path reaches it (issue 17, item 7).

use super::outputs::{run_cmd, sim};
use crate::util::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every file in a folder, with its bytes: a refused database must leave it as it was.
fn folder_state(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// SQLite's header says the journal mode: bytes 18 and 19 are 2 in WAL mode, 1 otherwise.
fn journal_mode(path: &Path) -> Option<&'static str> {
    let bytes = std::fs::read(path).ok()?;
    match bytes.get(18) {
        Some(2) => Some("wal"),
        Some(1) => Some("delete"),
        _ => None,
    }
}

/// A SQLite file in rollback-journal mode whose `intended_calls` lacks `call_sid`.
fn lacking_a_column(path: &Path, wal: bool) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mode: String = conn
        .query_row(
            &format!(
                "PRAGMA journal_mode = {}",
                if wal { "WAL" } else { "DELETE" }
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(mode, if wal { "wal" } else { "delete" });
    conn.execute_batch(
        "CREATE TABLE intended_calls (id INTEGER PRIMARY KEY, external_ref TEXT, to_number TEXT,
            from_number TEXT, intended_at TEXT, create_error_code INTEGER, webhook_status TEXT,
            webhook_error_code INTEGER, webhook_sip_code INTEGER);
         INSERT INTO intended_calls (id, to_number, intended_at) VALUES (1, '+14155550100', '2026-06-02T10:00:00Z');",
    )
    .unwrap();
}

/// Every command that opens a database, over `db`.
fn commands(sim: &Sim, dir: &TestDir, db: &Path) -> Vec<(String, Command)> {
    let now = sim_now(sim);
    let window = [
        "--from",
        super::outputs::FROM,
        "--to",
        super::outputs::TO,
        "--now",
        &now,
    ];
    let csv = dir.path("rows.csv");
    if !csv.exists() {
        std::fs::write(
            &csv,
            "id,to_number,intended_at\n1,+14155550100,2026-06-02T10:00:00Z\n",
        )
        .unwrap();
    }
    let mut list = Vec::new();
    for verb in ["run", "fetch", "report"] {
        let mut cmd = against(sim);
        cmd.args([verb, "--db"]).arg(db).args(window);
        if verb != "fetch" {
            cmd.arg("--out").arg(dir.path("out/r.csv"));
        }
        list.push((verb.to_owned(), cmd));
    }
    let mut check = against(sim);
    check.args(["check", "--db"]).arg(db);
    list.push(("check".to_owned(), check));
    let mut import = callrecon();
    import.args(["ledger", "import", "--db"]).arg(db).arg(&csv);
    list.push(("ledger import".to_owned(), import));
    list
}

#[test]
fn a_refused_database_is_left_byte_for_byte_with_nothing_beside_it() {
    let sim = sim(50);
    let dir = TestDir::new();
    std::fs::create_dir(dir.path("out")).unwrap();
    let dbs = dir.path("dbs");
    std::fs::create_dir(&dbs).unwrap();
    std::fs::write(dbs.join("empty.db"), "").unwrap();
    std::fs::write(dbs.join("text.db"), "id,to\n1,2\n").unwrap();
    lacking_a_column(&dbs.join("nocol.db"), false);
    lacking_a_column(&dbs.join("walnocol.db"), true);
    // A database of a newer callrecon: every column, and a schema this one does not know.
    let newer = dbs.join("newer.db");
    run(callrecon().args(["ledger", "init", "--db"]).arg(&newer), 0);
    {
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.execute_batch(
            "UPDATE recon_meta SET value = '999' WHERE key = 'schema_version';
             PRAGMA journal_mode = DELETE;",
        )
        .unwrap();
    }
    let before = folder_state(&dbs);
    let modes: Vec<_> = before
        .keys()
        .map(|n| (n.clone(), journal_mode(&dbs.join(n))))
        .collect();
    assert_eq!(journal_mode(&dbs.join("nocol.db")), Some("delete"));
    let mut paths: Vec<PathBuf> = before.keys().map(|n| dbs.join(n)).collect();
    paths.push(dbs.join("missing.db"));
    for db in &paths {
        for (what, mut cmd) in commands(&sim, &dir, db) {
            let out = run(&mut cmd, 2);
            assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
            assert_eq!(
                folder_state(&dbs),
                before,
                "{what} --db {} changed the folder",
                db.display()
            );
        }
    }
    // A good ledger no fetch has landed anything in: `report` refuses the window, and leaves
    // the application's file as it was (no WAL, no recon_ tables).
    let fresh = dir.path("fresh");
    std::fs::create_dir(&fresh).unwrap();
    lacking_a_column(&fresh.join("app.db"), false);
    {
        let conn = rusqlite::Connection::open(fresh.join("app.db")).unwrap();
        conn.execute_batch("ALTER TABLE intended_calls ADD COLUMN call_sid TEXT")
            .unwrap();
    }
    let app_before = folder_state(&fresh);
    let mut import = callrecon();
    import
        .args(["ledger", "import", "--db"])
        .arg(fresh.join("app.db"))
        .arg(fresh.join("no-such.csv"));
    let out = run(&mut import, 2);
    assert!(stderr(&out).contains("no-such.csv"), "{}", stderr(&out));
    assert_eq!(
        folder_state(&fresh),
        app_before,
        "import converted a ledger it refused"
    );
    let (_, mut cmd) = commands(&sim, &dir, &fresh.join("app.db")).swap_remove(2);
    let out = run(&mut cmd, 2);
    assert!(
        stderr(&out).contains("holds no fetched calls"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        folder_state(&fresh),
        app_before,
        "report converted a ledger it refused"
    );
    assert_eq!(journal_mode(&fresh.join("app.db")), Some("delete"));
    let after: Vec<_> = before
        .keys()
        .map(|n| (n.clone(), journal_mode(&dbs.join(n))))
        .collect();
    assert_eq!(after, modes, "journal modes");
    assert!(!dir.path("out/r.csv").exists());
}

/// README's "Exit codes by failure kind", row by row: `(key, code)`.
fn readme_table() -> Vec<(String, i32)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("### Exit codes by failure kind")
        .nth(1)
        .expect("README has the section 'Exit codes by failure kind'");
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let key = cells[0]
                .split('`')
                .nth(1)
                .expect("a `key` in the first cell");
            (key.to_owned(), cells[1].parse().expect("an exit code"))
        })
        .collect()
}

#[test]
fn every_failure_kind_has_the_exit_code_readmes_table_gives_in_every_subcommand() {
    let sim = sim(50);
    let table = readme_table();
    assert!(table.len() >= 10, "{table:?}");
    let mut provoked = 0;
    for (key, code) in &table {
        let dir = TestDir::new();
        std::fs::create_dir(dir.path("out")).unwrap();
        let good = dir.path("ledger.db");
        callrecon::simulator::write_ledger(sim.sim.dataset(), &good).unwrap();
        // Each kind: the database path, and what to add to the commands that write outputs.
        let (db, output): (PathBuf, Option<PathBuf>) = match key.as_str() {
            "db-missing" => (dir.path("nope.db"), None),
            "db-folder-missing" => (dir.path("nodir/x.db"), None),
            "db-is-folder" => (dir.path("out"), None),
            "db-unreadable" => (good.join("x.db"), None),
            "db-empty" => {
                std::fs::write(dir.path("empty.db"), "").unwrap();
                (dir.path("empty.db"), None)
            }
            "db-not-sqlite" => {
                std::fs::write(dir.path("t.db"), "not a database").unwrap();
                (dir.path("t.db"), None)
            }
            "db-columns" => {
                lacking_a_column(&dir.path("c.db"), false);
                (dir.path("c.db"), None)
            }
            "out-folder-missing" => (good.clone(), Some(dir.path("nodir/s.json"))),
            "out-is-folder" => (good.clone(), Some(dir.path("out"))),
            "out-unwritable" => (good.clone(), Some(good.join("s.json"))),
            "out-is-db" => (good.clone(), Some(good.clone())),
            "locked" => (good.clone(), None),
            other => panic!("README names a failure kind '{other}' this test cannot provoke"),
        };
        let _held = (key == "locked").then(|| {
            let f = std::fs::File::open(&good).unwrap();
            f.try_lock().unwrap();
            f
        });
        for (what, mut cmd) in commands(&sim, &dir, &db) {
            match &output {
                Some(path) if what == "run" || what == "fetch" || what == "report" => {
                    cmd.arg("--summary-json").arg(path);
                }
                Some(_) => continue,
                None => {}
            }
            // check only reads: no lock to meet.
            if key == "locked" && what == "check" {
                continue;
            }
            let out = cmd.output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(*code),
                "{key}: {what} --db {}\n{}",
                db.display(),
                stderr(&out)
            );
            assert!(!stderr(&out).contains("panicked"));
            provoked += 1;
        }
        // ledger init: a missing or empty file is created, everything else as above.
        if !matches!(key.as_str(), "db-missing" | "db-empty") && output.is_none() {
            let mut init = callrecon();
            init.args(["ledger", "init", "--db"]).arg(&db);
            let out = init.output().unwrap();
            let want = if key == "db-columns" { 2 } else { *code };
            assert_eq!(
                out.status.code(),
                Some(want),
                "{key}: ledger init\n{}",
                stderr(&out)
            );
        }
    }
    assert!(provoked > 30, "{provoked}");
}

#[test]
fn one_lock_per_database_file_whatever_path_reaches_it() {
    let sim = sim(50);
    let dir = TestDir::new();
    let db = dir.path("ledger.db");
    run(&mut run_cmd(&sim, &dir, "fetch"), 0);
    std::os::unix::fs::symlink("ledger.db", dir.path("dlink.db")).unwrap();
    std::fs::create_dir(dir.path("elsewhere")).unwrap();
    std::fs::hard_link(&db, dir.path("elsewhere/hard.db")).unwrap();
    // Another callrecon holds the file's lock (as `acquire` takes it).
    let held = callrecon::lock::acquire(&db).unwrap();
    let before = folder_state(dir.dir.path());
    for path in [
        db.clone(),
        dir.path("dlink.db"),
        dir.path("elsewhere/hard.db"),
    ] {
        let mut cmd = report_over(&sim, &path, &dir.path("r.csv"));
        let out = run(&mut cmd, 75);
        assert!(
            stderr(&out).contains("another callrecon command"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(
        folder_state(dir.dir.path()),
        before,
        "no lock file beside the paths"
    );
    drop(held);
    let mut cmd = report_over(&sim, dir.path("elsewhere/hard.db"), &dir.path("r.csv"));
    run(&mut cmd, 0);
}

#[test]
fn readmes_table_of_codes_is_the_code_s_and_the_help_s() {
    use callrecon::error::Exit;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("## Exit codes\n").nth(1).unwrap();
    let mut documented: Vec<u8> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .flat_map(|l| {
            let cell = l
                .trim_matches('|')
                .split('|')
                .next()
                .unwrap()
                .trim()
                .to_owned();
            cell.split('/')
                .map(|c| c.trim().parse::<u8>().expect("a code"))
                .collect::<Vec<_>>()
        })
        .collect();
    documented.sort_unstable();
    let mut code = [
        Exit::Success,
        Exit::LocalIo,
        Exit::Usage,
        Exit::TwilioAuth,
        Exit::TwilioUnavailable,
        Exit::Alarm,
        Exit::Deadline,
        Exit::Locked,
        Exit::Interrupted,
        Exit::Terminated,
    ]
    .map(|e| e as u8)
    .to_vec();
    code.sort_unstable();
    assert_eq!(documented, code);
    for c in &code {
        assert!(
            callrecon::cli::EXIT_CODES_HELP.contains(&format!("{c} ")),
            "--help lacks {c}"
        );
    }
}

/// Two callrecon processes: a slow run through the file's own name, then commands through a
/// symlink and a hardlink while it runs.
#[test]
fn a_run_through_one_name_locks_out_every_other_name_of_the_file() {
    let mut cfg = callrecon::simulator::SimConfig::new(
        200,
        3,
        callrecon::timefmt::parse_day("2026-06-02").unwrap(),
        1,
    );
    cfg.faults.latency = std::time::Duration::from_millis(40);
    let sim = Sim::start(cfg);
    let dir = TestDir::new();
    let mut first = run_cmd(&sim, &dir, "run");
    first
        .args(["--page-size", "20", "--max-in-flight", "1", "--out"])
        .arg(dir.path("r1.csv"));
    std::os::unix::fs::symlink("ledger.db", dir.path("dlink.db")).unwrap();
    std::fs::hard_link(dir.path("ledger.db"), dir.path("hard.db")).unwrap();
    let mut child = first
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Until the first run holds the lock (it does before its first request).
    let started = std::time::Instant::now();
    while sim.sim.stats().requests == 0 {
        assert!(
            started.elapsed().as_secs() < 20,
            "the first run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for other in ["dlink.db", "hard.db"] {
        let now = sim_now(&sim);
        let mut cmd = against(&sim);
        cmd.args(["fetch", "--db"]).arg(dir.path(other)).args([
            "--from",
            super::outputs::FROM,
            "--to",
            super::outputs::TO,
            "--now",
            &now,
        ]);
        let out = run(&mut cmd, 75);
        assert!(stderr(&out).contains("pid"), "{}", stderr(&out));
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// `callrecon report` over the outputs day at the simulator's clock, from `db` to `out`.
fn report_over(
    sim: &Sim,
    db: impl AsRef<std::path::Path>,
    out: &std::path::Path,
) -> std::process::Command {
    let now = sim_now(sim);
    let mut cmd = against(sim);
    cmd.args(["report", "--db"])
        .arg(db.as_ref())
        .args([
            "--from",
            super::outputs::FROM,
            "--to",
            super::outputs::TO,
            "--now",
            &now,
        ])
        .arg("--out")
        .arg(out);
    cmd
}
